/**
 * Ogg encapsulation of Opus (RFC 7845), one packet per page so each 20 ms packet
 * leaves as soon as it exists. One muxer per listener: every listener's stream
 * starts with its own OpusHead and OpusTags pages, so a page that joins mid-stream
 * can start its decoder; granule positions follow the room's 48 kHz clock.
 */

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let r = i << 24;
    for (let k = 0; k < 8; k++) r = r & 0x80000000 ? (r << 1) ^ 0x04c11db7 : r << 1;
    table[i] = r >>> 0;
  }
  return table;
})();

export function oggCrc(data: Uint8Array): number {
  let crc = 0;
  for (let i = 0; i < data.length; i++)
    crc = ((crc << 8) ^ CRC_TABLE[((crc >>> 24) ^ data[i]!) & 0xff]!) >>> 0;
  return crc >>> 0;
}

const HEADER_BOS = 0x02;

export class OggOpusMuxer {
  #pageSequence = 0;

  constructor(
    readonly serial: number,
    readonly preSkipSamples: number,
    readonly channels = 1,
  ) {}

  /** OpusHead (BOS) and OpusTags pages. */
  headerPages(): Buffer[] {
    const head = Buffer.alloc(19);
    head.write('OpusHead', 0, 'ascii');
    head[8] = 1; // version
    head[9] = this.channels;
    head.writeUInt16LE(this.preSkipSamples, 10);
    head.writeUInt32LE(48000, 12);
    head.writeInt16LE(0, 16); // output gain
    head[18] = 0; // mapping family
    const vendor = Buffer.from('live-foley', 'utf8');
    const tags = Buffer.alloc(8 + 4 + vendor.length + 4);
    tags.write('OpusTags', 0, 'ascii');
    tags.writeUInt32LE(vendor.length, 8);
    vendor.copy(tags, 12);
    tags.writeUInt32LE(0, 12 + vendor.length);
    return [this.#page(head, 0n, HEADER_BOS), this.#page(tags, 0n, 0)];
  }

  /** One audio page holding one Opus packet; granule = 48 kHz samples at its end. */
  audioPage(packet: Buffer, granulePosition: bigint): Buffer {
    return this.#page(packet, granulePosition, 0);
  }

  #page(packet: Buffer, granule: bigint, headerType: number): Buffer {
    const lacing: number[] = [];
    let remaining = packet.length;
    while (remaining >= 255) {
      lacing.push(255);
      remaining -= 255;
    }
    lacing.push(remaining);
    if (lacing.length > 255)
      throw new RangeError(`[ogg] packet of ${packet.length} bytes does not fit one page`);
    const header = Buffer.alloc(27 + lacing.length);
    header.write('OggS', 0, 'ascii');
    header[4] = 0;
    header[5] = headerType;
    header.writeBigInt64LE(granule, 6);
    header.writeUInt32LE(this.serial >>> 0, 14);
    header.writeUInt32LE(this.#pageSequence++, 18);
    header.writeUInt32LE(0, 22);
    header[26] = lacing.length;
    for (let i = 0; i < lacing.length; i++) header[27 + i] = lacing[i]!;
    const page = Buffer.concat([header, packet]);
    page.writeUInt32LE(oggCrc(page), 22);
    return page;
  }
}
