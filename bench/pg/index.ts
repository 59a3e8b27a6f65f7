export async function runPgBench(): Promise<void> {}
