// Result documents as JSON: one layout for every file the app and the benchmarks write.

/** A result document's text: two-space indentation and a final newline (diffs stay readable). */
export function resultJson(doc: unknown): string {
  return JSON.stringify(doc, null, 2) + '\n';
}

/**
 * Writes `doc` to `path` (creating its directory) and returns the path. Node's fs, which Deno also
 * provides, imported on use so that importing this module costs a browser nothing.
 */
export async function writeJson(path: string, doc: unknown): Promise<string> {
  const [{ mkdir, writeFile }, { dirname }] = await Promise.all([import('node:fs/promises'), import('node:path')]);
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, resultJson(doc));
  return path;
}
