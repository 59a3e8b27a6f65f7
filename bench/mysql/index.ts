export async function runMysqlBench(): Promise<void> {}
