import t from 'tap';
import { checkRouting, RoutesInForce } from '../../src/proxy/routes-in-force.js';
import type { RoutingSpec, TargetSpec } from '../../src/routing/types.js';

const target = (name: string, weight = 1, user = `${name}.user`): TargetSpec => ({ name, weight, pools: [{ name: `pool-${name}`, url: `stratum+tcp://${name}.example:3333`, user, password: 'x' }] });
const spec = (routes: RoutingSpec['routes'], routeOf: (w: string) => string = () => 'default'): RoutingSpec => ({ routes, routeOf });

t.test('checkRouting: the first reason a routing cannot be applied', async (t) => {
  t.throws(() => checkRouting(spec([{ name: 'alice', targets: [target('A')], fallback: 'default' }])), { message: "routing: no route named 'default'" });
  t.throws(() => checkRouting(spec([{ name: 'default', targets: [], fallback: 'none' }])), { message: "routing: route 'default' has no target" });
  t.throws(() => checkRouting(spec([{ name: 'a', targets: [target('X')], fallback: 'none' }, { name: 'default', targets: [target('X')], fallback: 'none' }])), { message: "routing: target name 'X' is used twice" });
  const badPools = spec([{ name: 'default', targets: [{ name: 'D', weight: 1, pools: [] }], fallback: 'none' }]);
  t.throws(() => checkRouting(badPools), { message: 'pools: at least one pool is required' });
  t.doesNotThrow(() => checkRouting(badPools, false), 'pools unchecked: a proxy without routes lets createUpstream pick them');
});

t.test('replace: same target on the same route keeps its group (new pools reported), others are new, removed ones retire until empty for the grace', async (t) => {
  const routes = new RoutesInForce(spec([{ name: 'alice', targets: [target('A'), target('F')], fallback: 'default' }, { name: 'default', targets: [target('D')], fallback: 'none' }], (w) => (w.startsWith('alice.') ? 'alice' : 'default')));
  const [a, f, d] = routes.groups;
  t.same(routes.groups.map((g) => [g.route, g.name]), [['alice', 'A'], ['alice', 'F'], ['default', 'D']]);
  t.equal(routes.routeOf('alice.rig1'), 'alice');
  t.equal(routes.routeOf('bob.rig1'), 'default');
  t.equal(routes.fallsBack(routes.route('alice')!), true);
  t.equal(routes.fallsBack(routes.defaultRoute), false, 'the default route has nowhere to fall back to');
  t.same(routes.planTargets(routes.route('alice')!), [{ name: 'A', weight: 1, available: false }, { name: 'F', weight: 1, available: false }]);

  t.throws(() => routes.replace(spec([{ name: 'default', targets: [target('D'), target('D')], fallback: 'none' }])), /used twice/);
  t.equal(routes.group('A'), a, 'a refused routing changes nothing');

  const { kept, changedPools } = routes.replace(
    spec([
      { name: 'alice', targets: [target('A', 3), target('N')], fallback: 'none' },
      { name: 'default', targets: [target('D', 1, 'D.other'), target('F')], fallback: 'none' },
    ], () => 'ghost'),
  );
  t.equal(routes.group('A'), a, 'A: same route, same pools: the same group');
  t.equal(a!.spec.weight, 3, 'with its new weight');
  t.equal(routes.group('D'), d);
  t.same(changedPools, [d], 'D keeps its group and takes the new pools');
  t.not(routes.group('F'), f, 'F moved to another route: a new group');
  t.same([...kept], [a, d]);
  t.equal(routes.routeOf('alice.rig1'), 'default', 'a route the rules name that is not in force: the default route');
  t.ok(routes.isRetiring(f!), 'the old F retires');
  t.equal(routes.allGroups.length, 5);
  t.same(routes.takeClosable(0, 30_000), [], 'empty since now: kept for the grace');
  t.same(routes.takeClosable(29_999, 30_000), []);
  t.same(routes.takeClosable(30_000, 30_000), [f], 'then handed over to be closed');
  t.notOk(routes.isRetiring(f!));
});
