/** HTTP requests sent as raw bytes, so nothing (path, method, headers) is normalized on the way. */
import net from 'node:net';

export interface RawAnswer {
  status: number | null;
  statusText: string;
  headers: string;
  body: string;
  /** How the exchange ended when no status line came: timeout, reset, closed. */
  error: string | null;
}

/** Writes `request` on a fresh connection and reads until the server closes it or `timeoutMs` passes. */
export function rawRequest(port: number, request: Buffer | string, timeoutMs = 5000): Promise<RawAnswer> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let error: string | null = null;
    const timer = setTimeout(() => {
      error = `no answer in ${timeoutMs} ms`;
      socket.destroy();
    }, timeoutMs);
    socket.on('data', (d) => chunks.push(d));
    socket.on('error', (e: NodeJS.ErrnoException) => {
      error ??= e.code ?? e.message;
    });
    socket.on('close', () => {
      clearTimeout(timer);
      const text = Buffer.concat(chunks).toString('latin1');
      const [head = '', ...rest] = text.split('\r\n\r\n');
      const line = /^HTTP\/1\.[01] (\d{3}) ?(.*)/.exec(head);
      resolve({
        status: line ? Number(line[1]) : null,
        statusText: line?.[2] ?? '',
        headers: head,
        body: rest.join('\r\n\r\n'),
        error: line
          ? null
          : (error ?? (text ? `not HTTP: ${JSON.stringify(text.slice(0, 80))}` : 'closed without an answer')),
      });
    });
    socket.on('connect', () => {
      // A server that answers before reading the whole request may reset the rest of the write.
      socket.write(request, () => {});
    });
  });
}
