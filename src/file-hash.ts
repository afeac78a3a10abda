/** SHA-256 of a file's bytes, streamed (model files run to tens of MB). */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';

export function fileSha256(path: string): Promise<string> {
  return new Promise((done, fail) => {
    const hash = createHash('sha256');
    createReadStream(path)
      .on('data', (chunk) => hash.update(chunk))
      .on('end', () => done(hash.digest('hex')))
      .on('error', fail);
  });
}
