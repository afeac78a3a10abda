export async function benchCommand(_argv: string[]): Promise<number> {
  return 1;
}
