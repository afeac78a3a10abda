/**
 * A file that FFmpeg writes through custom I/O callbacks, so that every write, seek and the
 * final flush is ours to check. node-av's file muxer ignores errors from the trailer and
 * from closing the file (`Muxer.close`), which let a file cut short by EFBIG or ENOSPC pass
 * as a finished MP4; here the first failure is kept and `close()` throws it.
 */
import { closeSync, fstatSync, fsyncSync, openSync, writeSync } from 'node:fs';
import type { IOOutputCallbacks } from 'node-av/api';
import { AVSEEK_CUR, AVSEEK_END, AVSEEK_SET, AVSEEK_SIZE } from 'node-av/constants';

/** FFmpeg's AVERROR(EIO): what a failed callback reports to the muxer. */
const AVERROR_EIO = -5;

export class CheckedFileSink {
  readonly path: string;
  private fd: number | null;
  private position = 0;
  private failure: NodeJS.ErrnoException | null = null;
  /** Bytes written successfully (the furthest offset reached). */
  bytesWritten = 0;

  constructor(path: string) {
    this.path = path;
    this.fd = openSync(path, 'wx');
  }

  /** The first write or seek error, if any. */
  get error(): NodeJS.ErrnoException | null {
    return this.failure;
  }

  /** Callbacks for `Muxer.open(callbacks, { format })`. */
  callbacks(): IOOutputCallbacks {
    return {
      write: (buffer: Buffer) => this.write(buffer),
      seek: (offset: bigint, whence: number) => this.seek(offset, whence),
    };
  }

  private write(buffer: Buffer): number {
    if (this.failure || this.fd === null) return AVERROR_EIO;
    try {
      let done = 0;
      while (done < buffer.length) {
        done += writeSync(this.fd, buffer, done, buffer.length - done, this.position + done);
      }
      this.position += done;
      this.bytesWritten = Math.max(this.bytesWritten, this.position);
      return done;
    } catch (error) {
      this.failure = error as NodeJS.ErrnoException;
      return AVERROR_EIO;
    }
  }

  private seek(offset: bigint, whence: number): bigint | number {
    if (this.failure || this.fd === null) return AVERROR_EIO;
    try {
      const size = fstatSync(this.fd).size;
      if (whence === AVSEEK_SIZE) return BigInt(size);
      const base =
        whence === AVSEEK_SET
          ? 0
          : whence === AVSEEK_CUR
            ? this.position
            : whence === AVSEEK_END
              ? size
              : NaN;
      const target = base + Number(offset);
      if (!Number.isFinite(target) || target < 0) return AVERROR_EIO;
      this.position = target;
      return BigInt(target);
    } catch (error) {
      this.failure = error as NodeJS.ErrnoException;
      return AVERROR_EIO;
    }
  }

  /**
   * Flushes the file to disk and closes it. Throws the first write error (kept from the
   * callbacks) or the error of fsync/close itself. Safe to call twice.
   */
  close(): void {
    const fd = this.fd;
    if (fd === null) {
      if (this.failure) throw this.failure;
      return;
    }
    this.fd = null;
    try {
      if (!this.failure) fsyncSync(fd);
    } catch (error) {
      this.failure = error as NodeJS.ErrnoException;
    } finally {
      try {
        closeSync(fd);
      } catch (error) {
        this.failure ??= error as NodeJS.ErrnoException;
      }
    }
    if (this.failure) throw this.failure;
  }
}
