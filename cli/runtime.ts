// The CLI's only door to the host: arguments, exit, files, the machine and memory. Everything else
// in cli/ is plain ECMAScript, so the same bench runs under Node (`node dist/cli/main.js`) and
// Deno (`deno run -A --unstable-webgpu dist/cli/main.js`). Both understand `node:` modules; Deno's
// own globals are used where its `node:` shims fall short (resourceUsage, argv).

export interface MachineInfo {
  cpuModel: string;
  /** Logical cores the OS reports. */
  cores: number;
  /** What the runtime would give a thread pool (navigator.hardwareConcurrency / availableParallelism). */
  parallelism: number;
  memoryBytes: number;
  platform: string;
  arch: string;
  /** 1, 5 and 15 minute load averages when the run started (others' work skews timings). */
  loadAverage: number[];
  /** The same when the run ended (this run's own threads included). */
  loadAverageAfter?: number[];
}

export interface RuntimeInfo {
  name: 'node' | 'deno' | 'bun' | 'unknown';
  version: string;
  /** Engine versions as the runtime reports them (v8, uv, deno, typescript…). */
  versions: Record<string, string>;
}

export interface Output {
  write(text: string): void;
  readonly isTTY: boolean;
  readonly columns: number;
}

export interface Runtime {
  readonly args: string[];
  readonly stdout: Output;
  readonly stderr: Output;
  readonly info: RuntimeInfo;
  env(name: string): string | undefined;
  /** Sets an environment variable for this process and the libraries it loads, unless already set. */
  defaultEnv(name: string, value: string): void;
  /** 1, 5 and 15 minute load averages ([] where the OS has none). */
  loadAverage(): number[];
  cwd(): string;
  exit(code: number): never;
  machine(): MachineInfo;
  /** Resident set size now, in bytes. */
  rss(): number;
  /** Peak resident set size of the process so far, in bytes, where the runtime tells it. */
  maxRss(): number | null;
  mkdir(path: string): Promise<void>;
  writeFile(path: string, data: string): Promise<void>;
  readFile(path: string): Promise<string>;
  /** Reads a file: URL (a module's neighbour), or null when it is not there. */
  readUrl(url: URL): Promise<string | null>;
  exists(path: string): Promise<boolean>;
  /** Joins and resolves path segments against the working directory. */
  resolve(...parts: string[]): string;
  /** A fresh temporary directory (tests). */
  tempDir(prefix: string): Promise<string>;
}

type NodeProcess = typeof import('node:process');
interface DenoLike {
  args: string[];
  version: Record<string, string>;
  exit(code: number): never;
  memoryUsage(): { rss: number };
}

const deno = (globalThis as { Deno?: DenoLike }).Deno;
const bun = (globalThis as { Bun?: { version: string } }).Bun;

let cached: Promise<Runtime> | undefined;

/** The host runtime, loaded once. Node modules are imported lazily so that importing cli/ in a browser costs nothing. */
export function hostRuntime(): Promise<Runtime> {
  cached ??= load();
  return cached;
}

async function load(): Promise<Runtime> {
  const [processModule, fs, os, path, nodeUrl] = await Promise.all([
    import('node:process'),
    import('node:fs/promises'),
    import('node:os'),
    import('node:path'),
    import('node:url'),
  ]);
  const proc = (processModule.default ?? processModule) as NodeProcess;
  const output = (stream: NodeJS.WriteStream): Output => ({
    write: (text) => void stream.write(text),
    get isTTY() {
      return Boolean(stream.isTTY);
    },
    get columns() {
      return stream.columns ?? 100;
    },
  });

  const info: RuntimeInfo = deno
    ? { name: 'deno', version: deno.version.deno ?? '', versions: { ...deno.version } }
    : bun
      ? { name: 'bun', version: bun.version, versions: { bun: bun.version } }
      : { name: 'node', version: proc.versions.node, versions: pick(proc.versions, ['node', 'v8', 'uv', 'modules']) };

  return {
    args: deno ? [...deno.args] : proc.argv.slice(2),
    stdout: output(proc.stdout),
    stderr: output(proc.stderr),
    info,
    env: (name) => proc.env[name],
    defaultEnv: (name, value) => {
      if (proc.env[name] === undefined) proc.env[name] = value;
    },
    loadAverage: () => {
      try {
        return os.loadavg().map((v) => Math.round(v * 100) / 100);
      } catch {
        return [];
      }
    },
    cwd: () => proc.cwd(),
    exit: (code) => (deno ? deno.exit(code) : proc.exit(code)),
    machine: () => {
      const cpus = os.cpus();
      const parallelism =
        (typeof os.availableParallelism === 'function' ? os.availableParallelism() : 0) ||
        (globalThis.navigator?.hardwareConcurrency ?? 0) ||
        cpus.length ||
        1;
      return {
        cpuModel: cpus[0]?.model?.trim() || 'unknown',
        cores: cpus.length || parallelism,
        parallelism,
        memoryBytes: os.totalmem(),
        platform: os.platform(),
        arch: os.arch(),
        loadAverage: (() => {
          try {
            return os.loadavg().map((v) => Math.round(v * 100) / 100);
          } catch {
            return [];
          }
        })(),
      };
    },
    rss: () => (deno ? deno.memoryUsage().rss : proc.memoryUsage().rss),
    maxRss: () => {
      // Node reports maxRSS in KiB (getrusage); Deno's shim does not implement resourceUsage.
      try {
        const usage = typeof proc.resourceUsage === 'function' ? proc.resourceUsage() : undefined;
        return usage && usage.maxRSS > 0 ? usage.maxRSS * 1024 : null;
      } catch {
        return null;
      }
    },
    mkdir: async (p) => void (await fs.mkdir(p, { recursive: true })),
    writeFile: (p, data) => fs.writeFile(p, data, 'utf8'),
    readFile: (p) => fs.readFile(p, 'utf8'),
    readUrl: async (url) => {
      try {
        return await fs.readFile(nodeUrl.fileURLToPath(url), 'utf8');
      } catch {
        return null;
      }
    },
    exists: async (p) => {
      try {
        await fs.stat(p);
        return true;
      } catch {
        return false;
      }
    },
    resolve: (...parts) => path.resolve(proc.cwd(), ...parts),
    tempDir: (prefix) => fs.mkdtemp(path.join(os.tmpdir(), prefix)),
  };
}

function pick(from: Record<string, string | undefined>, keys: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of keys) if (from[k] !== undefined) out[k] = from[k] as string;
  return out;
}

/** blocksparse's version from its package.json (dist/cli/ and cli/ sit at different depths), or null. */
export async function packageVersion(rt: Runtime): Promise<string | null> {
  for (const rel of ['../package.json', '../../package.json']) {
    const text = await rt.readUrl(new URL(rel, import.meta.url));
    if (!text) continue;
    try {
      const pkg = JSON.parse(text) as { name?: string; version?: string };
      if (pkg.name === 'blocksparse') return pkg.version ?? null;
    } catch {
      // not ours: keep looking
    }
  }
  return null;
}
