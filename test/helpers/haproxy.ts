import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sleep } from './wait.js';

/**
 * A real HAProxy for tests, started by the test itself: Debian's `haproxy` package (installed by .ci/run),
 * run in the foreground (`-db`) from a configuration written to a temporary directory, listening on
 * loopback only, stopped and its directory removed at teardown. Tests that need it skip when the binary is
 * missing (`haproxyBinary()` is null) and say so.
 */
export interface HaproxyFrontend {
  /** A name for the frontend (letters, digits, dashes). */
  name: string;
  /** Where its backend server is (127.0.0.1:port). */
  serverPort: number;
  /** The PROXY protocol header HAProxy puts before each connection's bytes. */
  sendProxy: 'v1' | 'v2';
}

export interface Haproxy {
  /** Each frontend's listening port on 127.0.0.1, by name. */
  ports: Record<string, number>;
  /** What HAProxy printed (stdout and stderr), for a failure message. */
  output(): string;
  stop(): Promise<void>;
}

/** The haproxy binary (PATH, then /usr/sbin), or null when it is not installed. */
export function haproxyBinary(): string | null {
  const found = spawnSync('sh', ['-c', 'command -v haproxy'], { encoding: 'utf8' });
  const onPath = found.status === 0 ? found.stdout.trim() : '';
  if (onPath !== '') return onPath;
  return existsSync('/usr/sbin/haproxy') ? '/usr/sbin/haproxy' : null;
}

/** A free TCP port on 127.0.0.1 (bound and released at once). */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** The configuration for `frontends` on the given ports: TCP mode, one server each, no health checks. */
export function haproxyConfig(frontends: readonly HaproxyFrontend[], ports: Record<string, number>): string {
  const lines = ['global', '  maxconn 512', '', 'defaults', '  mode tcp', '  timeout connect 5s', '  timeout client 120s', '  timeout server 120s', ''];
  for (const f of frontends) {
    lines.push(`frontend ${f.name}`, `  bind 127.0.0.1:${ports[f.name]}`, `  default_backend ${f.name}-proxy`, '');
    lines.push(`backend ${f.name}-proxy`, `  server proxy 127.0.0.1:${f.serverPort} ${f.sendProxy === 'v1' ? 'send-proxy' : 'send-proxy-v2'}`, '');
  }
  return lines.join('\n');
}

/** Start HAProxy with `frontends`; resolves once every frontend accepts connections (bounded). */
export async function startHaproxy(binary: string, frontends: readonly HaproxyFrontend[], timeoutMs = 10_000): Promise<Haproxy> {
  const dir = mkdtempSync(path.join(tmpdir(), 'dfp-haproxy-'));
  const ports: Record<string, number> = {};
  for (const f of frontends) ports[f.name] = await freePort();
  const file = path.join(dir, 'haproxy.cfg');
  writeFileSync(file, haproxyConfig(frontends, ports));
  let output = '';
  const child: ChildProcess = spawn(binary, ['-db', '-f', file], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await Promise.race([exited, sleep(5000)]);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const end = Date.now() + timeoutMs;
  for (const f of frontends) {
    while (!(await accepts(ports[f.name]!))) {
      if (child.exitCode !== null || Date.now() > end) {
        await stop();
        throw new Error(`haproxy did not start listening on 127.0.0.1:${ports[f.name]} (${f.name}): ${output.trim() || 'no output'}`);
      }
      await sleep(50);
    }
  }
  return { ports, output: () => output, stop };
}

/**
 * True when a TCP connection to 127.0.0.1:port opens. Closed at once: behind HAProxy the proxy may see a
 * connection from 127.0.0.1 that sends nothing after its header (no device: nothing authorizes).
 */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
