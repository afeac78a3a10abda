/** One stream of a media file copied into a new file (the container type from `to`'s name), packets untouched. */
import '../../src/media/node-av-setup.js';
import { Demuxer, Muxer } from 'node-av/api';

type InputStream = NonNullable<ReturnType<Demuxer['video']>>;

/** Remuxes `from`'s first `kind` stream alone into `to`; `edit` may change the stream's parameters first. */
export async function remuxOneStream(
  from: string,
  to: string,
  kind: 'video' | 'audio',
  edit: (stream: InputStream) => void = () => {},
): Promise<void> {
  const input = await Demuxer.open(from);
  try {
    const stream = kind === 'video' ? input.video() : input.audio();
    if (!stream) throw new Error(`${from} has no ${kind} stream`);
    edit(stream);
    const output = await Muxer.open(to);
    try {
      const index = output.addStream(stream);
      for (const packet of input.packetsSync(stream.index)) {
        if (!packet) break;
        await output.writePacket(packet, index);
        packet.free();
      }
    } finally {
      await output.close();
    }
  } finally {
    await input.close();
  }
}
