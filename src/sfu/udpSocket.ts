import dgram from 'node:dgram';

/** A UDP socket bound to an ephemeral port of `ip`, resolved once the bind has succeeded. */
export async function bindUdpSocket(ip: string): Promise<dgram.Socket> {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, ip, () => {
      socket.off('error', reject);
      resolve();
    });
  });
  return socket;
}
