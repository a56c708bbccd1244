import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { loadConfig, VARIABLE_DOCS } from '../../src/config';
import { LIVENESS_SERVICE } from '../../src/grpc/health';
import { SERVICE_NAME } from '@snowflake-id/client/contract';

// No cluster here: the manifests are parsed and checked against the service's own configuration
// (VARIABLE_DOCS), and rendered with `kubectl kustomize` where kubectl is installed.
const ROOT = path.resolve(__dirname, '../..');
const K8S = path.join(ROOT, 'deploy/kubernetes');
const PROMETHEUS = path.join(ROOT, 'deploy/prometheus');
const NETWORK_POLICY = path.join(K8S, 'components/network-policy');

interface EnvVar {
  name: string;
  value?: string;
}
interface Probe {
  grpc?: { port: number; service?: string };
  httpGet?: unknown;
  tcpSocket?: unknown;
  exec?: { command: string[] };
  periodSeconds?: number;
  timeoutSeconds?: number;
  failureThreshold?: number;
}
interface VolumeMount {
  name: string;
  mountPath: string;
  subPath?: string;
  readOnly?: boolean;
}
interface Volume {
  name: string;
  secret?: { secretName: string; defaultMode?: number };
}
interface Container {
  name: string;
  image: string;
  ports: { name: string; containerPort: number }[];
  env: EnvVar[];
  resources: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: {
    allowPrivilegeEscalation?: boolean;
    readOnlyRootFilesystem?: boolean;
    capabilities?: { drop?: string[] };
  };
  startupProbe?: Probe;
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  volumeMounts: VolumeMount[];
}
interface LabelSelector {
  matchLabels?: Record<string, string>;
}
interface SpreadConstraint {
  maxSkew: number;
  topologyKey: string;
  whenUnsatisfiable: string;
  labelSelector: LabelSelector;
}
interface PolicyRule {
  from: { namespaceSelector?: LabelSelector; podSelector?: LabelSelector }[];
  ports: { port: string | number; protocol: string }[];
}
interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
  spec: {
    podSelector?: LabelSelector;
    policyTypes?: string[];
    ingress?: PolicyRule[];
    endpoints?: { port: string; path?: string }[];
    replicas?: number;
    serviceName?: string;
    clusterIP?: string;
    selector?: Record<string, string> & { matchLabels?: Record<string, string> };
    ports?: { name: string; port: number; targetPort: string | number }[];
    maxUnavailable?: number;
    minAvailable?: number;
    template?: {
      metadata: { labels: Record<string, string> };
      spec: {
        terminationGracePeriodSeconds?: number;
        securityContext?: { runAsNonRoot?: boolean; runAsUser?: number };
        topologySpreadConstraints?: SpreadConstraint[];
        containers: Container[];
        volumes?: Volume[];
      };
    };
    volumeClaimTemplates?: { metadata: { name: string } }[];
    // cert-manager Certificate
    secretName?: string;
    usages?: string[];
    dnsNames?: string[];
  };
}
interface Kustomization {
  kind?: string;
  resources?: string[];
  components?: string[];
  patches?: { path: string }[];
  images?: { name: string; newTag?: string }[];
  labels?: { pairs: Record<string, string> }[];
}

/** Every YAML document of a file; fails on any parse error or warning. */
function loadYaml(file: string): unknown[] {
  const docs = parseAllDocuments(fs.readFileSync(file, 'utf8'));
  const list = Array.isArray(docs) ? docs : [docs];
  for (const d of list) {
    expect({ file, errors: d.errors.map(String), warnings: d.warnings.map(String) }).toEqual({
      file,
      errors: [],
      warnings: [],
    });
  }
  return list.map((d) => d.toJS() as unknown);
}

function yamlFiles(dir: string): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && /\.ya?ml$/.test(e.name))
    .map((e) => path.join(e.parentPath, e.name))
    .sort();
}

/**
 * The documents a kustomization lists (its resources and components, recursively), as kustomize would
 * load them, with the kustomization's `labels` added to their metadata.
 */
function resources(dir: string): Manifest[] {
  const k = loadYaml(path.join(dir, 'kustomization.yaml'))[0] as Kustomization;
  const labels = Object.assign({}, ...(k.labels ?? []).map((l) => l.pairs)) as Record<string, string>;
  return [...(k.resources ?? []), ...(k.components ?? [])]
    .flatMap((r) => {
      const p = path.join(dir, r);
      return fs.statSync(p).isDirectory() ? resources(p) : (loadYaml(p) as Manifest[]);
    })
    .map((m) => ({ ...m, metadata: { ...m.metadata, labels: { ...labels, ...m.metadata.labels } } }));
}

/** `kubectl kustomize` of a throw-away kustomization of `resources` and `components` (directories). */
function kustomize(resourceDirs: string[], componentDirs: string[] = []): Manifest[] {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kustomize-'));
  try {
    // kustomize accepts relative paths only.
    const rel = (dirs: string[]) => dirs.map((d) => path.relative(tmp, d));
    fs.writeFileSync(
      path.join(tmp, 'kustomization.yaml'),
      JSON.stringify({ resources: rel(resourceDirs), components: rel(componentDirs) }),
    );
    const r = spawnSync('kubectl', ['kustomize', tmp], { encoding: 'utf8', timeout: 20_000 });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const docs = parseAllDocuments(r.stdout);
    return (Array.isArray(docs) ? docs : [docs]).map((d) => d.toJS() as Manifest);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

/** True when `selector` selects an object with `labels`. */
function selects(selector: LabelSelector | undefined, labels: Record<string, string> | undefined): boolean {
  const wanted = Object.entries(selector?.matchLabels ?? {});
  return wanted.length > 0 && wanted.every(([k, v]) => labels?.[k] === v);
}

/** The key by which a strategic merge matches the items of each list the overlays patch. */
const MERGE_KEYS: Record<string, string> = {
  containers: 'name',
  env: 'name',
  volumes: 'name',
  volumeMounts: 'mountPath',
};

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Kustomize's strategic merge, as far as the overlays use it: objects merge key by key, `null` deletes a
 * key, the lists of {@link MERGE_KEYS} merge item by item on their key, other values are replaced. A
 * patched container must exist in the base (a typo would otherwise add a second container).
 */
function strategicMerge(base: unknown, patch: unknown, field = ''): unknown {
  const key = MERGE_KEYS[field];
  if (key !== undefined && Array.isArray(base) && Array.isArray(patch)) {
    const merged = [...(base as Record<string, unknown>[])];
    for (const item of patch as Record<string, unknown>[]) {
      const i = merged.findIndex((x) => x[key] === item[key]);
      if (field === 'containers')
        expect({ container: item[key], found: i >= 0 }).toEqual({ container: item[key], found: true });
      if (i >= 0) merged[i] = strategicMerge(merged[i], item) as Record<string, unknown>;
      else merged.push(item);
    }
    return merged;
  }
  if (!isObject(base) || !isObject(patch)) return patch;
  const merged: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(patch)) merged[k] = v === null ? null : strategicMerge(base[k], v, k);
  return Object.fromEntries(Object.entries(merged).filter(([, v]) => v !== null));
}

/** Applies a strategic-merge patch to the manifest of the same kind and name. */
function applyPatch(base: Manifest[], patch: Manifest): Manifest[] {
  expect(base.filter((m) => m.kind === patch.kind && m.metadata.name === patch.metadata.name)).toHaveLength(
    1,
  );
  return base.map((m) =>
    m.kind === patch.kind && m.metadata.name === patch.metadata.name
      ? (strategicMerge(m, patch) as Manifest)
      : m,
  );
}

function overlay(name: string): Manifest[] {
  const dir = path.join(K8S, 'overlays', name);
  const k = loadYaml(path.join(dir, 'kustomization.yaml'))[0] as Kustomization;
  const patches = (k.patches ?? []).flatMap((p) => loadYaml(path.join(dir, p.path)) as Manifest[]);
  return patches.reduce(applyPatch, resources(dir));
}

const VARIANTS: [string, string, () => Manifest[]][] = [
  ['base (ordinal)', 'ordinal', () => resources(path.join(K8S, 'base'))],
  ['overlays/etcd', 'etcd', () => overlay('etcd')],
  ['overlays/tls', 'ordinal', () => overlay('tls')],
];

const KNOWN = new Set(VARIABLE_DOCS.map((d) => d.name));
const defaultOf = (name: string) => VARIABLE_DOCS.find((d) => d.name === name)?.defaultValue;
const defaultPort = (name: string) => Number(defaultOf(name)?.split(':').at(-1));

function one(manifests: Manifest[], kind: string, filter: (m: Manifest) => boolean = () => true): Manifest {
  const found = manifests.filter((m) => m.kind === kind && filter(m));
  expect(found).toHaveLength(1);
  return found[0]!;
}

function container(manifests: Manifest[]): Container {
  const sts = one(manifests, 'StatefulSet');
  const [c] = sts.spec.template!.spec.containers;
  return c!;
}

function env(c: Container): Map<string, string> {
  return new Map(c.env.map((e) => [e.name, e.value ?? '']));
}

describe('deploy/kubernetes', () => {
  it('every YAML file parses, and every file is used by a kustomization', () => {
    const files = yamlFiles(K8S);
    expect(files.length).toBeGreaterThanOrEqual(7);
    const used = new Set<string>();
    for (const file of files) {
      const docs = loadYaml(file);
      expect(docs.length).toBeGreaterThan(0);
      if (path.basename(file) !== 'kustomization.yaml') continue;
      used.add(file);
      const k = docs[0] as Kustomization;
      for (const r of [
        ...(k.resources ?? []),
        ...(k.components ?? []),
        ...(k.patches ?? []).map((p) => p.path),
      ]) {
        const p = path.join(path.dirname(file), r);
        expect(fs.existsSync(p)).toBe(true);
        used.add(fs.statSync(p).isDirectory() ? path.join(p, 'kustomization.yaml') : p);
      }
    }
    expect([...used].sort()).toEqual(files);
  });

  it('every SNOWFLAKE_* variable set in any manifest or patch is one the service accepts (VARIABLE_DOCS)', () => {
    const names = new Set<string>();
    const walk = (node: unknown): void => {
      if (Array.isArray(node)) node.forEach(walk);
      else if (typeof node === 'object' && node !== null) {
        for (const [k, v] of Object.entries(node)) {
          if (k === 'env' && Array.isArray(v)) for (const e of v as EnvVar[]) names.add(e.name);
          walk(v);
        }
      }
    };
    for (const file of yamlFiles(K8S)) for (const doc of loadYaml(file)) walk(doc);
    const used = [...names].filter((n) => n.startsWith('SNOWFLAKE_')).sort();
    expect(used.length).toBeGreaterThanOrEqual(7);
    expect(used.filter((n) => !KNOWN.has(n))).toEqual([]);
  });

  describe.each(VARIANTS)('%s', (_name, source, load) => {
    const manifests = load();

    it('has a StatefulSet, a headless Service for it, a client Service and a PodDisruptionBudget', () => {
      const sts = one(manifests, 'StatefulSet');
      const headless = one(manifests, 'Service', (m) => m.spec.clusterIP === 'None');
      one(manifests, 'Service', (m) => m.spec.clusterIP !== 'None');
      one(manifests, 'PodDisruptionBudget');
      expect(sts.spec.serviceName).toBe(headless.metadata.name);
      expect(sts.spec.volumeClaimTemplates?.length).toBe(1);
    });

    it(`takes worker IDs from the ${source} source with all the settings it needs`, () => {
      const vars = env(container(manifests));
      expect(vars.get('SNOWFLAKE_WORKER_ID_SOURCE')).toBe(source);
      // The source decides the worker ID; a fixed one would give every pod the same.
      expect(vars.has('SNOWFLAKE_WORKER_ID')).toBe(false);
      const etcdVars = [...vars.keys()].filter((n) => n.startsWith('SNOWFLAKE_ETCD_')).sort();
      if (source === 'etcd') {
        expect(etcdVars).toEqual([
          'SNOWFLAKE_ETCD_ENDPOINTS',
          'SNOWFLAKE_ETCD_LEASE_TTL_S',
          'SNOWFLAKE_ETCD_PREFIX',
        ]);
        for (const url of vars.get('SNOWFLAKE_ETCD_ENDPOINTS')!.split(','))
          expect(url).toMatch(/^https?:\/\/[^/\s]+:\d+$/);
        expect(vars.get('SNOWFLAKE_ETCD_LEASE_TTL_S')).toMatch(/^[1-9]\d*$/);
        expect(vars.get('SNOWFLAKE_ETCD_PREFIX')).toMatch(/^\/.+\/$/);
      } else {
        expect(etcdVars).toEqual([]);
        const workerBits = Number(vars.get('SNOWFLAKE_WORKER_BITS') ?? defaultOf('SNOWFLAKE_WORKER_BITS'));
        expect(one(manifests, 'StatefulSet').spec.replicas).toBeLessThanOrEqual(2 ** workerBits);
      }
    });

    it('sets values the service accepts (loadConfig, as in a pod named snowflake-2)', () => {
      const vars = Object.fromEntries(env(container(manifests)));
      expect(() => loadConfig({ HOSTNAME: 'snowflake-2', ...vars }, Date.now())).not.toThrow();
    });

    it('listens on the default ports, and the container ports, env and Services agree', () => {
      const c = container(manifests);
      const vars = env(c);
      const ports = new Map(c.ports.map((p) => [p.name, p.containerPort]));
      expect(Object.fromEntries(ports)).toEqual({
        grpc: defaultPort('SNOWFLAKE_GRPC_ADDR'),
        metrics: defaultPort('SNOWFLAKE_METRICS_ADDR'),
      });
      expect(ports.get('grpc')).toBe(50051);
      expect(vars.get('SNOWFLAKE_GRPC_ADDR')).toBe(`0.0.0.0:${ports.get('grpc')}`);
      expect(vars.get('SNOWFLAKE_METRICS_ADDR')).toBe(`0.0.0.0:${ports.get('metrics')}`);
      for (const svc of manifests.filter((m) => m.kind === 'Service')) {
        for (const p of svc.spec.ports!) {
          const target = typeof p.targetPort === 'string' ? ports.get(p.targetPort) : p.targetPort;
          expect({ service: svc.metadata.name, port: p.name, target }).toEqual({
            service: svc.metadata.name,
            port: p.name,
            target: ports.get(p.name),
          });
          expect(p.port).toBe(target);
        }
      }
    });

    it('Services, the PDB and the StatefulSet select the pods of the template', () => {
      const sts = one(manifests, 'StatefulSet');
      const podLabels = sts.spec.template!.metadata.labels;
      const selectors = [
        sts.spec.selector!.matchLabels!,
        ...manifests.filter((m) => m.kind === 'Service').map((m) => m.spec.selector!),
        one(manifests, 'PodDisruptionBudget').spec.selector!.matchLabels!,
      ];
      for (const s of selectors) {
        expect(Object.keys(s).length).toBeGreaterThan(0);
        expect(podLabels).toMatchObject(s);
      }
    });

    it('probes with gRPC health checks on the gRPC port (native ones in plaintext, the health-check script over TLS); readiness asks for snowflake.v1.IdGenerator, startup and liveness for liveness', () => {
      const c = container(manifests);
      const grpcPort = c.ports.find((p) => p.name === 'grpc')!.containerPort;
      const probes = [c.startupProbe, c.readinessProbe, c.livenessProbe];
      if (env(c).has('SNOWFLAKE_TLS_CERT_FILE')) {
        // The kubelet's grpc: probes cannot speak TLS. The script (built from src/healthcheck.ts into the
        // image's /app/dist) asks for the service named by its argument (default snowflake.v1.IdGenerator)
        // on the port of SNOWFLAKE_GRPC_ADDR.
        for (const probe of probes) {
          expect(probe).toBeDefined();
          expect([probe!.grpc, probe!.httpGet, probe!.tcpSocket]).toEqual([undefined, undefined, undefined]);
          // Its own deadline is 3 s; a node start on a busy pod takes some of the rest.
          expect(probe!.timeoutSeconds).toBeGreaterThanOrEqual(5);
        }
        expect(c.readinessProbe!.exec?.command).toEqual(['node', '/app/dist/healthcheck.js', SERVICE_NAME]);
        // A pod that correctly refuses IDs stays NOT_SERVING for readiness; a restart would not cure it.
        for (const probe of [c.startupProbe, c.livenessProbe]) {
          expect(probe!.exec?.command).toEqual(['node', '/app/dist/healthcheck.js', LIVENESS_SERVICE]);
        }
        expect(fs.existsSync(path.join(ROOT, 'src/healthcheck.ts'))).toBe(true);
        expect(env(c).get('SNOWFLAKE_GRPC_ADDR')).toMatch(new RegExp(`:${grpcPort}$`));
      } else {
        for (const probe of probes) {
          expect(probe).toBeDefined();
          expect(probe!.grpc?.port).toBe(grpcPort);
          expect([probe!.httpGet, probe!.tcpSocket, probe!.exec]).toEqual([undefined, undefined, undefined]);
        }
        expect(c.readinessProbe!.grpc!.service).toBe(SERVICE_NAME);
        // A pod that correctly refuses IDs stays NOT_SERVING for readiness; a restart would not cure it.
        expect([c.startupProbe!.grpc!.service, c.livenessProbe!.grpc!.service]).toEqual([
          LIVENESS_SERVICE,
          LIVENESS_SERVICE,
        ]);
      }
      // The startup probe must outlast the longest wait for the clock to pass a persisted reservation.
      const startupWindowMs = c.startupProbe!.periodSeconds! * c.startupProbe!.failureThreshold! * 1000;
      const startupWait = defaultOf('SNOWFLAKE_MAX_STARTUP_WAIT_MS');
      if (startupWait !== undefined) expect(startupWindowMs).toBeGreaterThan(Number(startupWait));
    });

    it('gives the pod longer to stop than SNOWFLAKE_SHUTDOWN_TIMEOUT_MS', () => {
      const sts = one(manifests, 'StatefulSet');
      const timeoutMs = Number(
        env(container(manifests)).get('SNOWFLAKE_SHUTDOWN_TIMEOUT_MS') ??
          defaultOf('SNOWFLAKE_SHUTDOWN_TIMEOUT_MS'),
      );
      expect(sts.spec.template!.spec.terminationGracePeriodSeconds! * 1000).toBeGreaterThan(timeoutMs);
    });

    it('requests and limits CPU and memory', () => {
      const { resources: r } = container(manifests);
      expect(Object.keys(r.requests ?? {}).sort()).toEqual(['cpu', 'memory']);
      expect(Object.keys(r.limits ?? {}).sort()).toEqual(['cpu', 'memory']);
    });

    it('runs as non-root without privilege escalation or capabilities', () => {
      const sts = one(manifests, 'StatefulSet');
      const pod = sts.spec.template!.spec.securityContext!;
      expect(pod.runAsNonRoot).toBe(true);
      expect(pod.runAsUser).not.toBe(0);
      const c = container(manifests).securityContext!;
      expect(c).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true });
      expect(c.capabilities?.drop).toEqual(['ALL']);
    });

    it('keeps SNOWFLAKE_STATE_DIR on a volume from volumeClaimTemplates', () => {
      const sts = one(manifests, 'StatefulSet');
      const c = container(manifests);
      const stateDir = env(c).get('SNOWFLAKE_STATE_DIR');
      expect(stateDir).toMatch(/^\//);
      const mount = c.volumeMounts.find((m) => m.mountPath === stateDir);
      expect(mount).toBeDefined();
      expect(sts.spec.volumeClaimTemplates!.map((v) => v.metadata.name)).toContain(mount!.name);
    });

    it('spreads the pods across nodes (enforced) and zones (preferred)', () => {
      const sts = one(manifests, 'StatefulSet');
      const spread = sts.spec.template!.spec.topologySpreadConstraints ?? [];
      const byKey = new Map(spread.map((c) => [c.topologyKey, c]));
      expect([...byKey.keys()].sort()).toEqual(['kubernetes.io/hostname', 'topology.kubernetes.io/zone']);
      expect(byKey.get('kubernetes.io/hostname')).toMatchObject({
        maxSkew: 1,
        whenUnsatisfiable: 'DoNotSchedule',
      });
      expect(byKey.get('topology.kubernetes.io/zone')).toMatchObject({
        maxSkew: 1,
        whenUnsatisfiable: 'ScheduleAnyway',
      });
      for (const c of spread) {
        expect(selects(c.labelSelector, sts.spec.template!.metadata.labels)).toBe(true);
        expect(c.labelSelector.matchLabels).toEqual(sts.spec.selector!.matchLabels);
      }
    });

    it('lets at most one pod be disrupted voluntarily', () => {
      const pdb = one(manifests, 'PodDisruptionBudget');
      const replicas = one(manifests, 'StatefulSet').spec.replicas!;
      if (pdb.spec.maxUnavailable !== undefined) expect(pdb.spec.maxUnavailable).toBe(1);
      else expect(pdb.spec.minAvailable).toBe(replicas - 1);
    });
  });

  describe('overlays/tls', () => {
    const manifests = overlay('tls');

    it('reads the TLS files from the whole cert-manager Secret mounted as a directory (no subPath, so renewals arrive)', () => {
      const sts = one(manifests, 'StatefulSet');
      const c = container(manifests);
      const vars = env(c);
      const certificate = one(manifests, 'Certificate');
      const files = ['SNOWFLAKE_TLS_CERT_FILE', 'SNOWFLAKE_TLS_KEY_FILE', 'SNOWFLAKE_TLS_CLIENT_CA_FILE'];
      // The keys cert-manager writes into the Secret.
      expect(files.map((n) => path.basename(vars.get(n) ?? ''))).toEqual(['tls.crt', 'tls.key', 'ca.crt']);
      for (const name of files) {
        const dir = path.dirname(vars.get(name)!);
        const mount = c.volumeMounts.find((m) => m.mountPath === dir);
        expect({ name, mount }).toEqual({
          name,
          mount: { name: expect.any(String) as unknown, mountPath: dir, readOnly: true },
        });
        const volume = sts.spec.template!.spec.volumes?.find((v) => v.name === mount!.name);
        expect(volume?.secret?.secretName).toBe(certificate.spec.secretName);
      }
    });

    it('issues a certificate for the Services and the pods, usable by the probes as a client certificate', () => {
      const certificate = one(manifests, 'Certificate');
      expect(certificate.apiVersion).toBe('cert-manager.io/v1');
      const services = manifests.filter((m) => m.kind === 'Service').map((m) => m.metadata.name);
      const headless = one(manifests, 'Service', (m) => m.spec.clusterIP === 'None').metadata.name;
      expect(certificate.spec.dnsNames).toEqual(expect.arrayContaining([...services, `*.${headless}`]));
      // Under mutual TLS the health-check script presents the pod's own certificate (no
      // SNOWFLAKE_HEALTHCHECK_CERT_FILE is set), so it must allow client auth.
      expect(env(container(manifests)).has('SNOWFLAKE_HEALTHCHECK_CERT_FILE')).toBe(false);
      expect(certificate.spec.usages).toEqual(expect.arrayContaining(['server auth', 'client auth']));
    });
  });

  const kubectl = spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8' }).status === 0;
  (kubectl ? it : it.skip).each([
    ['base', () => resources(path.join(K8S, 'base'))],
    ['overlays/etcd', () => overlay('etcd')],
    ['overlays/tls', () => overlay('tls')],
  ])(
    '`kubectl kustomize %s` renders the same StatefulSet env, probes and volumes as these checks assume',
    (dir, load) => {
      const r = spawnSync('kubectl', ['kustomize', path.join(K8S, dir)], {
        encoding: 'utf8',
        timeout: 20_000,
      });
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      const rendered = parseAllDocuments(r.stdout);
      const manifests = (Array.isArray(rendered) ? rendered : [rendered]).map((d) => d.toJS() as Manifest);
      const sorted = (m: Manifest[]) => [...env(container(m))].sort(([a], [b]) => a.localeCompare(b));
      expect(sorted(manifests)).toEqual(sorted(load()));
      const probesAndVolumes = (m: Manifest[]) => {
        const c = container(m);
        return {
          probes: [c.startupProbe, c.readinessProbe, c.livenessProbe],
          volumeMounts: [...c.volumeMounts].sort((a, b) => a.mountPath.localeCompare(b.mountPath)),
          volumes: one(m, 'StatefulSet').spec.template!.spec.volumes ?? [],
          kinds: m.map((x) => x.kind).sort(),
        };
      };
      expect(probesAndVolumes(manifests)).toEqual(probesAndVolumes(load()));
      expect(container(manifests).image).toBe('snowflake-id:0.1.0');
    },
  );
});

const hasKubectl = spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8' }).status === 0;

describe('deploy/kubernetes/components/network-policy', () => {
  const [policy] = resources(NETWORK_POLICY);
  const sts = one(resources(path.join(K8S, 'base')), 'StatefulSet');
  const ports = new Map(container([sts]).ports.map((p) => [p.name, p.containerPort]));

  it('is a kustomize Component holding one NetworkPolicy for the pods of the StatefulSet', () => {
    const k = loadYaml(path.join(NETWORK_POLICY, 'kustomization.yaml'))[0] as Kustomization;
    expect(k.kind).toBe('Component');
    expect(resources(NETWORK_POLICY).map((m) => m.kind)).toEqual(['NetworkPolicy']);
    expect(selects(policy!.spec.podSelector, sts.spec.template!.metadata.labels)).toBe(true);
    expect(policy!.spec.policyTypes).toEqual(['Ingress']);
  });

  it('admits gRPC only from labelled client pods and /metrics only from the monitoring namespace', () => {
    const rules = policy!.spec.ingress ?? [];
    expect(rules.flatMap((r) => r.ports.map((p) => p.port)).sort()).toEqual(['grpc', 'metrics']);
    for (const r of rules) {
      expect(r.ports).toHaveLength(1);
      expect(ports.has(String(r.ports[0]!.port))).toBe(true);
      expect(r.ports[0]!.protocol).toBe('TCP');
      expect(r.from.length).toBeGreaterThan(0);
    }
    const grpcFrom = rules.find((r) => r.ports[0]!.port === 'grpc')!.from;
    // Every peer needs the client label: a peer with only a namespace selector would admit any pod.
    for (const peer of grpcFrom) expect(Object.keys(peer.podSelector?.matchLabels ?? {})).not.toHaveLength(0);
    const metricsFrom = rules.find((r) => r.ports[0]!.port === 'metrics')!.from;
    expect(metricsFrom).toEqual([
      { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } },
    ]);
  });

  (hasKubectl ? it : it.skip).each([
    ['base', path.join(K8S, 'base')],
    ['overlays/etcd', path.join(K8S, 'overlays/etcd')],
  ])('`kubectl kustomize` renders %s with the component: the StatefulSet and the policy', (_name, dir) => {
    const rendered = kustomize([dir], [NETWORK_POLICY]);
    const renderedPolicy = one(rendered, 'NetworkPolicy');
    expect(renderedPolicy.spec).toEqual(policy!.spec);
    expect(
      selects(renderedPolicy.spec.podSelector, one(rendered, 'StatefulSet').spec.template!.metadata.labels),
    ).toBe(true);
  });
});

describe('deploy/prometheus (Prometheus Operator)', () => {
  const monitoring = resources(PROMETHEUS);
  const base = resources(path.join(K8S, 'base'));

  it('has a kustomization with one ServiceMonitor and one PrometheusRule', () => {
    expect(monitoring.map((m) => `${m.apiVersion} ${m.kind}`).sort()).toEqual([
      'monitoring.coreos.com/v1 PrometheusRule',
      'monitoring.coreos.com/v1 ServiceMonitor',
    ]);
  });

  it('the ServiceMonitor scrapes /metrics on the `metrics` port of the headless Service, which selects the pods', () => {
    const sm = one(monitoring, 'ServiceMonitor');
    expect(sm.spec.endpoints).toEqual([expect.objectContaining({ port: 'metrics', path: '/metrics' })]);
    const selected = base.filter((m) => m.kind === 'Service' && selects(sm.spec.selector, m.metadata.labels));
    // Only Services with a `metrics` port yield targets: exactly the headless one.
    const scraped = selected.filter((svc) => svc.spec.ports!.some((p) => p.name === 'metrics'));
    expect(scraped.map((svc) => svc.metadata.name)).toEqual([
      one(base, 'Service', (m) => m.spec.clusterIP === 'None').metadata.name,
    ]);
    const sts = one(base, 'StatefulSet');
    expect(sts.spec.template!.metadata.labels).toMatchObject(scraped[0]!.spec.selector!);
    const metricsPort = container(base).ports.find((p) => p.name === 'metrics')!.containerPort;
    expect(scraped[0]!.spec.ports!.find((p) => p.name === 'metrics')!.port).toBe(metricsPort);
  });

  (hasKubectl ? it : it.skip)('`kubectl kustomize deploy/prometheus` renders the same two objects', () => {
    const rendered = kustomize([PROMETHEUS]);
    expect(rendered.map((m) => [m.kind, m.metadata.name]).sort()).toEqual(
      monitoring.map((m) => [m.kind, m.metadata.name]).sort(),
    );
    expect(one(rendered, 'ServiceMonitor').spec).toEqual(one(monitoring, 'ServiceMonitor').spec);
  });
});
