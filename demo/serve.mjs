// A tiny static server for the demo page, on localhost only. By default it sends the two headers
// that make a page cross-origin isolated (so SharedArrayBuffer can be posted to Web Workers and the
// CPU engine runs on several threads); `--no-isolation` leaves them out, to see the one-thread fallback.
//
//   node demo/serve.mjs [--port 8080] [--no-isolation]
//
// Serves only demo/, dist/ and examples/ of the repository (the generate panel runs
// examples/tiny-decoder.mjs; '/' redirects to /demo/). The first line it prints is
// `listening on http://127.0.0.1:PORT/demo/` (test/browser/run.mjs reads it; --port 0 picks a free port).
import { createServer } from 'node:http';
import { createReadStream, statSync } from 'node:fs';
import { dirname, extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const ALLOWED = ['demo', 'dist', 'examples'];
const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  // application/wasm is what WebAssembly.compileStreaming insists on
  '.wasm': 'application/wasm',
  '.d.ts': 'text/plain; charset=utf-8',
};

function parseArgs(argv) {
  const opts = { port: 8080, host: '127.0.0.1', isolation: true, quiet: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--no-isolation') opts.isolation = false;
    else if (a === '--quiet') opts.quiet = true;
    else if (a === '--port') opts.port = Number(argv[++i]);
    else if (a.startsWith('--port=')) opts.port = Number(a.slice(7));
    else if (a === '--help' || a === '-h') {
      console.log('usage: node demo/serve.mjs [--port N] [--no-isolation] [--quiet]');
      process.exit(0);
    } else {
      console.error(`serve: unknown argument '${a}' (try --help)`);
      process.exit(2);
    }
  }
  if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535) {
    console.error('serve: --port must be an integer in [0, 65535]');
    process.exit(2);
  }
  return opts;
}

/** Maps a URL path to a file under one of ALLOWED, or undefined. */
function fileFor(urlPath) {
  let path;
  try {
    path = decodeURIComponent(urlPath);
  } catch {
    return undefined;
  }
  const rel = normalize(path).replace(/^[/\\]+/, '');
  if (rel.split(/[/\\]/).includes('..')) return undefined;
  if (!ALLOWED.some((dir) => rel === dir || rel.startsWith(dir + sep) || rel.startsWith(dir + '/'))) return undefined;
  let file = join(root, rel);
  try {
    if (statSync(file).isDirectory()) file = join(file, 'index.html');
    return statSync(file).isFile() ? file : undefined;
  } catch {
    return undefined;
  }
}

export function startServer({ port = 0, host = '127.0.0.1', isolation = true, quiet = true } = {}) {
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const headers = { 'Cache-Control': 'no-store' };
    if (isolation) {
      headers['Cross-Origin-Opener-Policy'] = 'same-origin';
      headers['Cross-Origin-Embedder-Policy'] = 'require-corp';
      headers['Cross-Origin-Resource-Policy'] = 'same-origin';
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { ...headers, Allow: 'GET, HEAD' }).end();
      return;
    }
    if (url.pathname === '/' || url.pathname === '/demo') {
      res.writeHead(302, { ...headers, Location: '/demo/' + url.search }).end();
      return;
    }
    const file = fileFor(url.pathname);
    if (!file) {
      res.writeHead(404, { ...headers, 'Content-Type': 'text/plain; charset=utf-8' }).end(`not found: ${url.pathname}\n`);
      if (!quiet) console.log(`404 ${url.pathname}`);
      return;
    }
    const type = file.endsWith('.d.ts') ? TYPES['.d.ts'] : (TYPES[extname(file)] ?? 'application/octet-stream');
    res.writeHead(200, { ...headers, 'Content-Type': type, 'Content-Length': statSync(file).size });
    if (req.method === 'HEAD') return res.end();
    createReadStream(file).pipe(res);
  });
  return new Promise((resolveStart, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      const { port: actual } = server.address();
      resolveStart({ server, url: `http://${host}:${actual}/demo/` });
    });
  });
}

if (fileURLToPath(import.meta.url) === resolve(process.argv[1] ?? '')) {
  const opts = parseArgs(process.argv.slice(2));
  const { server, url } = await startServer(opts).catch((e) => {
    console.error(`serve: ${e.message}`);
    process.exit(1);
  });
  console.log(`listening on ${url}`);
  console.log(opts.isolation ? 'cross-origin isolated (COOP/COEP): the CPU engine may use Web Workers' : 'not isolated (--no-isolation): the CPU engine runs on one thread');
  const stop = () => server.close(() => process.exit(0));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}
