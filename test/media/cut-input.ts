/**
 * Inputs cut short the way a failed download or copy leaves them: the header intact and
 * the media data ending cleanly at a packet boundary, so no decoder ever sees a broken
 * packet and only the length gives the cut away.
 */
import '../../src/media/node-av-setup.js';
import { readFileSync, writeFileSync } from 'node:fs';
import { Demuxer } from 'node-av/api';

/** Writes to `to` the bytes of `from` up to the end of the last packet within `fraction` of the file. */
export async function cutAtPacketBoundary(from: string, to: string, fraction: number): Promise<void> {
  const bytes = readFileSync(from);
  const limit = Math.floor(bytes.length * fraction);
  const demuxer = await Demuxer.open(from);
  let end = 0;
  try {
    for (const packet of demuxer.packetsSync()) {
      if (!packet) break;
      const packetEnd = Number(packet.pos) + packet.size;
      if (packet.pos >= 0n && packetEnd <= limit) end = Math.max(end, packetEnd);
      packet.free();
    }
  } finally {
    await demuxer.close();
  }
  if (end === 0) throw new Error(`no packet of ${from} ends within ${limit} bytes`);
  writeFileSync(to, bytes.subarray(0, end));
}
