import type { Test } from 'tap';
import { EventBus } from '../../src/core/events.js';
import type { Logger } from '../../src/core/log.js';
import { DeviceServer, type DeviceServerOptions } from '../../src/downstream/server.js';
import type { MiningHost, SubscribeGrant } from '../../src/downstream/session.js';
import { Proxy, type ProxyOptions } from '../../src/proxy/proxy.js';
import { LineClient } from './line-client.js';
import { hasher } from './share-kit.js';

/**
 * The device side of the proxy as tests build it: a DeviceServer listening on 127.0.0.1 (a free port) in
 * front of a MiningHost (`devicesUnderTest`: a scripted host; `proxyUnderTest`: a real, started Proxy), and
 * the LineClients the test opens, all closed at teardown: clients, then the server, then the proxy.
 *
 * Tap runs teardowns last registered first: a test that must close more (a pool, the metrics) after these
 * registers that teardown before calling the helper.
 */

export interface DevicesUnderTest {
  server: DeviceServer;
  port: number;
  /** Closed at teardown: push any LineClient the test opens itself. */
  clients: LineClient[];
  /** A new LineClient from loopback address `from`, closed at teardown. */
  connect(from?: string): Promise<LineClient>;
}

/** A host whose every answer the test decides (subscribe grants extranonce1 aabbccdd, 4 bytes of extranonce2). */
export function scriptedHost(over: Partial<MiningHost> = {}): MiningHost {
  return {
    subscribe: async (): Promise<SubscribeGrant> => ({ extranonce1: 'aabbccdd', extranonce2Size: 4 }),
    authorize: async () => {},
    submit: () => {},
    versionMask: () => 0,
    suggestDifficulty: () => {},
    ready: () => {},
    disconnected: () => {},
    ...over,
  };
}

/** A DeviceServer on 127.0.0.1:0 (with `options` beyond that) in front of `host`. */
export async function devicesUnderTest(
  t: Test,
  host: MiningHost,
  bus: EventBus,
  options: Partial<DeviceServerOptions> = {},
  log?: Logger,
): Promise<DevicesUnderTest> {
  const server = new DeviceServer({ host: '127.0.0.1', port: 0, ...options }, host, bus, log);
  const { port } = await server.listen();
  const clients: LineClient[] = [];
  t.teardown(async () => {
    for (const c of clients) c.close();
    await server.close();
  });
  const connect = async (from = '127.0.0.1') => {
    const c = await LineClient.connect(port, from);
    clients.push(c);
    return c;
  };
  return { server, port, clients, connect };
}

export interface ProxyUnderTestOptions {
  /** The proxy's options; `hasher` is the tests' X11 hasher and `bus` a new EventBus unless given. */
  proxy: Omit<ProxyOptions, 'hasher' | 'bus'> & Partial<Pick<ProxyOptions, 'hasher' | 'bus'>>;
  /** The DeviceServer's options beyond host and port. */
  devices?: Partial<DeviceServerOptions>;
  /** The DeviceServer's logger; the proxy's (`proxy.log`) unless given. */
  devicesLog?: Logger;
}

export interface ProxyUnderTest extends DevicesUnderTest {
  bus: EventBus;
  proxy: Proxy;
}

/** A started Proxy behind a DeviceServer on 127.0.0.1:0. */
export async function proxyUnderTest(t: Test, opts: ProxyUnderTestOptions): Promise<ProxyUnderTest> {
  const bus = opts.proxy.bus ?? new EventBus();
  const proxy = new Proxy({ hasher, ...opts.proxy, bus });
  // Registered before the server's teardown, so it runs after it.
  t.teardown(() => proxy.stop());
  proxy.start();
  const devices = await devicesUnderTest(t, proxy, bus, opts.devices, opts.devicesLog ?? opts.proxy.log);
  return { bus, proxy, ...devices };
}
