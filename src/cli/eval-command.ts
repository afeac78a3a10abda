export async function evalCommand(_argv: string[]): Promise<number> {
  return 1;
}
