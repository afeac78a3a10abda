/**
 * `foley token <room>`: a room token made with the server's secret, and the page URL it
 * opens, so a publisher or viewer link can be made without computing the HMAC by hand.
 */
import { UsageError } from '../errors.js';
import { RoomTokens, TOKEN_ROLES, type TokenRole } from '../server/tokens.js';
import { numberFlag, parse } from './options.js';

export const TOKEN_USAGE = `usage: foley token <room> [options]
  Prints a token for <room> (first line, alone) and the page URLs it opens.
  --role R         publish, view or listen (default view): publish sends video (and may view
                   and listen), view receives the foley over WebRTC, listen only hears the Ogg
                   stream (the OBS and overlay pages)
  --ttl S          the token expires S seconds from now (default: never)
  --secret S       the server's HMAC secret (default: FOLEY_SECRET; one of them is required,
                   and it must be the secret foley serve runs with)
  --host HOST      the server's address in the URLs (default 127.0.0.1)
  --port N         the server's port in the URLs (default 8080)
  --base-url URL   the server's URL as pages reach it (e.g. https://foley.example.org behind a
                   proxy); replaces --host and --port
  -h, --help       this help`;

/** Page URLs a token of each role opens (a role also opens the pages of the roles below it). */
const PAGES: Record<TokenRole, Array<{ label: string; page: string }>> = {
  publish: [{ label: 'publish (send video)', page: 'publish.html' }],
  view: [{ label: 'viewer (receive foley)', page: 'viewer.html' }],
  listen: [
    { label: 'OBS browser source', page: 'obs.html' },
    { label: 'stream overlay', page: 'overlay.html' },
  ],
};

export interface RoomTokenLink {
  token: string;
  role: TokenRole;
  /** Seconds since the epoch, or null when it never expires. */
  expiresAtSeconds: number | null;
  pages: Array<{ label: string; url: string }>;
  /** WHIP endpoint (publish tokens only), the token being its Bearer token. */
  whipUrl: string | null;
}

/** Parses the command line and makes the token; throws UsageError naming any bad flag. */
export function makeRoomTokenLink(
  argv: string[],
  env: NodeJS.ProcessEnv = process.env,
): RoomTokenLink | null {
  const { values, positionals } = parse('token', argv, {
    role: { type: 'string' },
    ttl: { type: 'string' },
    secret: { type: 'string' },
    host: { type: 'string' },
    port: { type: 'string' },
    'base-url': { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) return null;
  if (positionals.length !== 1)
    throw new UsageError(`[foley token] expects one room name, got ${positionals.length}\n${TOKEN_USAGE}`);
  const room = positionals[0]!;
  const role = (values.role as string | undefined) ?? 'view';
  if (!TOKEN_ROLES.includes(role as TokenRole))
    throw new UsageError(`[foley token] --role must be one of ${TOKEN_ROLES.join(', ')}, got "${role}"`);
  const ttlSeconds = numberFlag('token', values, 'ttl', { integer: true, min: 1 });
  const secret = (values.secret as string | undefined) ?? env.FOLEY_SECRET;
  if (!secret)
    throw new UsageError(
      '[foley token] no secret: pass --secret or set FOLEY_SECRET to the secret foley serve runs with (a token made with any other secret is refused)',
    );
  const baseUrlFlag = values['base-url'] as string | undefined;
  if (baseUrlFlag !== undefined && (values.host !== undefined || values.port !== undefined))
    throw new UsageError('[foley token] --base-url replaces --host and --port; give one or the other');
  let baseUrl: string;
  if (baseUrlFlag !== undefined) {
    let parsed: URL;
    try {
      parsed = new URL(baseUrlFlag);
    } catch {
      throw new UsageError(`[foley token] --base-url expects an http(s) URL, got "${baseUrlFlag}"`);
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')
      throw new UsageError(`[foley token] --base-url expects an http(s) URL, got "${baseUrlFlag}"`);
    baseUrl = baseUrlFlag.replace(/\/+$/, '');
  } else {
    const host = (values.host as string | undefined) ?? '127.0.0.1';
    const port = numberFlag('token', values, 'port', { integer: true, min: 1 }) ?? 8080;
    baseUrl = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  }
  let token: string;
  try {
    token = new RoomTokens(secret).tokenFor(room, role as TokenRole, ttlSeconds ? { ttlSeconds } : {});
  } catch (error) {
    throw new UsageError(`[foley token] ${(error as Error).message.replace(/^\[tokens\] /, '')}`, {
      cause: error,
    });
  }
  const expiry = Number(token.split('.')[1]);
  const query = `room=${encodeURIComponent(room)}&token=${token}`;
  return {
    token,
    role: role as TokenRole,
    expiresAtSeconds: expiry === 0 ? null : expiry,
    pages: PAGES[role as TokenRole].map(({ label, page }) => ({ label, url: `${baseUrl}/${page}?${query}` })),
    whipUrl: role === 'publish' ? `${baseUrl}/whip/${room}` : null,
  };
}

export function tokenCommand(argv: string[]): number {
  const link = makeRoomTokenLink(argv);
  if (!link) {
    process.stdout.write(`${TOKEN_USAGE}\n`);
    return 0;
  }
  const lines = [link.token];
  for (const { label, url } of link.pages) lines.push(`  ${label}: ${url}`);
  if (link.whipUrl)
    lines.push(`  WHIP (OBS: Stream > Service WHIP): server ${link.whipUrl}, bearer token above`);
  lines.push(
    link.expiresAtSeconds === null
      ? '  never expires'
      : `  expires ${new Date(link.expiresAtSeconds * 1000).toISOString()}`,
  );
  process.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}
