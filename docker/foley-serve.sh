#!/bin/sh
# `foley serve` for a container: HTTP on all interfaces at FOLEY_PORT (default 8080); mediasoup
# listens on all interfaces and its ICE candidates carry FOLEY_ANNOUNCED_IP, the address browsers
# and OBS reach (the host's), else the container's own first address. FOLEY_RTC_MIN_PORT and
# FOLEY_RTC_MAX_PORT narrow the UDP range to publish (default 40000-49999). Arguments pass through.
set -eu
announced="${FOLEY_ANNOUNCED_IP:-$(hostname -I | cut -d' ' -f1)}"
if [ -z "$announced" ]; then
  echo "foley-serve: no address to announce; set FOLEY_ANNOUNCED_IP to the host's address" >&2
  exit 2
fi
set -- --host 0.0.0.0 --port "${FOLEY_PORT:-8080}" --rtc-listen-ip 0.0.0.0 --announced-ip "$announced" "$@"
if [ -n "${FOLEY_RTC_MIN_PORT:-}" ]; then set -- "$@" --rtc-min-port "$FOLEY_RTC_MIN_PORT"; fi
if [ -n "${FOLEY_RTC_MAX_PORT:-}" ]; then set -- "$@" --rtc-max-port "$FOLEY_RTC_MAX_PORT"; fi
exec foley serve "$@"
