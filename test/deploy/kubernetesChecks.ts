/**
 * Reading the manifests in deploy/k8s (the StatefulSet, its Services,
 * ConfigMap and PodDisruptionBudget, and each pod's environment as the kubelet
 * expands it), and the checks on them. Each check takes the parsed documents,
 * so the tests can also feed it a damaged copy.
 */
import { mkdtempSync, readdirSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, posix } from "node:path"
import { expect } from "vitest"
import { parseAllDocuments } from "yaml"
import { formatHostPort, isLoopbackHost, parsePeerList } from "../../src/config/parse.js"
import { list, type Mapping, mapping, read, repoRoot, text } from "./files.js"
import { DEFAULT_PEER_PORT, type NodeAddresses, nodeAddresses, nodeConfigError, SAMPLE_SECRET, shutdownBudgetMs } from "./nodeConfig.js"

export const K8S_DIR = "deploy/k8s"
const TEST_NAMESPACE = "ns-under-test"

export const loadK8s = (): ReadonlyArray<Mapping> => {
  const files = readdirSync(join(repoRoot, K8S_DIR)).filter((f) => /\.ya?ml$/.test(f)).sort()
  expect(files.length, "deploy/k8s has manifests").toBeGreaterThan(0)
  return files.flatMap((file) =>
    Array.from(parseAllDocuments(read(`${K8S_DIR}/${file}`))).flatMap((doc) => {
      expect(doc.errors.map((e) => e.message), `${file} parses`).toEqual([])
      const value: unknown = doc.toJS()
      return value === null || value === undefined ? [] : [mapping(value, `a document of ${file}`)]
    })
  )
}

export const ofKind = (docs: ReadonlyArray<Mapping>, kind: string): ReadonlyArray<Mapping> => docs.filter((d) => d.kind === kind)
const nameOf = (doc: Mapping): string => text(mapping(doc.metadata, "metadata").name, "metadata.name")
const labelsMatch = (selector: unknown, labels: unknown): boolean =>
  Object.entries(mapping(selector, "selector")).every(([k, v]) => mapping(labels, "labels")[k] === v)

interface StatefulSetView {
  readonly name: string
  readonly spec: Mapping
  readonly pod: Mapping
  readonly labels: Mapping
  readonly container: Mapping
  readonly replicas: number
}

export const statefulSetOf = (docs: ReadonlyArray<Mapping>): StatefulSetView => {
  const sets = ofKind(docs, "StatefulSet")
  expect(sets.length, "one StatefulSet").toBe(1)
  const set = sets[0] ?? {}
  const spec = mapping(set.spec, "StatefulSet spec")
  const template = mapping(spec.template, "pod template")
  const pod = mapping(template.spec, "pod spec")
  const containers = list(pod.containers, "containers")
  expect(containers.length, "one container").toBe(1)
  return {
    name: nameOf(set),
    spec,
    pod,
    labels: mapping(mapping(template.metadata, "template metadata").labels, "template labels"),
    container: mapping(containers[0], "container"),
    replicas: Number(spec.replicas ?? 1)
  }
}

/** The container's environment in pod `ordinal`, expanded as the kubelet does ($(VAR) of variables defined before). */
const podEnv = (docs: ReadonlyArray<Mapping>, set: StatefulSetView, ordinal: number): Record<string, string> => {
  const env: Record<string, string> = {}
  for (const source of set.container.envFrom === undefined ? [] : list(set.container.envFrom, "envFrom")) {
    const ref = mapping(mapping(source, "envFrom entry").configMapRef, "configMapRef")
    const configMap = ofKind(docs, "ConfigMap").find((c) => nameOf(c) === ref.name)
    expect(configMap, `ConfigMap ${String(ref.name)} is in ${K8S_DIR}`).toBeDefined()
    for (const [k, v] of Object.entries(mapping(configMap?.data ?? {}, "ConfigMap data"))) env[k] = String(v)
  }
  const fields: Record<string, string> = { "metadata.name": `${set.name}-${ordinal}`, "metadata.namespace": TEST_NAMESPACE }
  for (const item of list(set.container.env ?? [], "env")) {
    const entry = mapping(item, "env entry")
    const name = text(entry.name, "env name")
    if (entry.value !== undefined) {
      env[name] = String(entry.value).replace(/\$\((\w+)\)/g, (whole, ref: string) => env[ref] ?? whole)
    } else {
      const from = mapping(entry.valueFrom, `${name} valueFrom`)
      if (from.fieldRef !== undefined) {
        const path = text(mapping(from.fieldRef, "fieldRef").fieldPath, "fieldPath")
        expect(Object.keys(fields), `${name}: a known downward API field`).toContain(path)
        env[name] = fields[path] ?? ""
      }
    }
  }
  return env
}

/** A probe's or Service's port, by number or by the container port's name. */
const containerPort = (set: StatefulSetView, port: unknown): number => {
  if (typeof port === "number") return port
  const named = list(set.container.ports, "container ports").map((p) => mapping(p, "port"))
    .find((p) => p.name === port)
  expect(named, `container port named ${String(port)}`).toBeDefined()
  return Number(named?.containerPort)
}

const k8sAddresses = (docs: ReadonlyArray<Mapping>, set: StatefulSetView, ordinal: number): NodeAddresses =>
  nodeAddresses(`pod ${ordinal}`, podEnv(docs, set, ordinal))

export const checkK8sServices = (docs: ReadonlyArray<Mapping>) => {
  const set = statefulSetOf(docs)
  const headless = ofKind(docs, "Service").find((s) => nameOf(s) === set.spec.serviceName)
  expect(headless, `serviceName ${String(set.spec.serviceName)} is a Service in ${K8S_DIR}`).toBeDefined()
  const headlessSpec = mapping(headless?.spec, "headless spec")
  expect(headlessSpec.clusterIP, "the StatefulSet's Service is headless").toBe("None")
  expect(headlessSpec.publishNotReadyAddresses, "peers resolve before they are ready").toBe(true)
  expect(labelsMatch(mapping(set.spec.selector, "selector").matchLabels, set.labels), "selector matches the pod labels")
    .toBe(true)
  const services = ofKind(docs, "Service")
  expect(services.length, "a headless and a client Service").toBeGreaterThanOrEqual(2)
  const { listen } = k8sAddresses(docs, set, 0)
  for (const service of services) {
    const spec = mapping(service.spec, `Service ${nameOf(service)}`)
    expect(labelsMatch(spec.selector, set.labels), `Service ${nameOf(service)} selects the pods`).toBe(true)
  }
  const client = services.find((s) => mapping(s.spec, "spec").clusterIP !== "None")
  expect(client, "a client Service with a cluster IP").toBeDefined()
  const clientPorts = list(mapping(client?.spec, "client spec").ports, "client ports").map((p) => mapping(p, "port"))
  expect(clientPorts.some((p) => p.port === 8080 && containerPort(set, p.targetPort ?? p.port) === listen.port),
    "the client Service sends 8080 to the gRPC listener").toBe(true)
  const budgets = ofKind(docs, "PodDisruptionBudget")
  expect(budgets.length, "a PodDisruptionBudget").toBe(1)
  const budget = mapping(budgets[0]?.spec, "PDB spec")
  expect(budget.maxUnavailable, "one node down by choice at a time").toBe(1)
  expect(labelsMatch(mapping(budget.selector, "PDB selector").matchLabels, set.labels), "the PDB selects the pods").toBe(true)
}

export const checkK8sPeers = (docs: ReadonlyArray<Mapping>) => {
  const set = statefulSetOf(docs)
  const headless = String(set.spec.serviceName)
  expect(set.replicas, "three replicas").toBe(3)
  // The first ring needs every seed to answer: pods started one by one, each waiting for the last to be ready, never would.
  expect(set.spec.podManagementPolicy, "pods start in parallel (the first ring is agreed by all three)").toBe("Parallel")
  const envNames = list(set.container.env, "env").map((e) => String(mapping(e, "env").name))
  for (const [dependent, needs] of [["ADDR", "POD_NAME"], ["PEERS", "POD_NAMESPACE"], ["ADDR", "POD_NAMESPACE"]] as const) {
    // $(VAR) expands only from variables defined earlier in the list.
    expect(envNames.indexOf(needs), `${needs} is defined before ${dependent}`).toBeGreaterThanOrEqual(0)
    expect(envNames.indexOf(needs), `${needs} is defined before ${dependent}`).toBeLessThan(envNames.indexOf(dependent))
  }
  const addrs = Array.from({ length: set.replicas }, (_, i) => k8sAddresses(docs, set, i))
  addrs.forEach(({ addr, listen }, i) => {
    expect(addr.host, `pod ${i}: ADDR is its stable DNS name`)
      .toBe(`${set.name}-${i}.${headless}.${TEST_NAMESPACE}.svc.cluster.local`)
    expect(addr.port, `pod ${i}: ADDR's port is LISTEN_ADDR's`).toBe(listen.port)
    expect(["0.0.0.0", "::"], `pod ${i}: LISTEN_ADDR binds every interface`).toContain(listen.host)
    expect(listen.port, `pod ${i}: LISTEN_ADDR's port is the grpc container port`).toBe(containerPort(set, "grpc"))
  })
  for (let ordinal = 0; ordinal < set.replicas; ordinal++) {
    const raw = podEnv(docs, set, ordinal).PEERS ?? ""
    expect(raw, `pod ${ordinal}: PEERS is fully expanded`).not.toContain("$(")
    const peers = parsePeerList(raw, DEFAULT_PEER_PORT)
    if (!peers.ok) expect.fail(`PEERS: ${peers.error}`)
    const pattern = new RegExp(`^${set.name}-(\\d+)\\.${headless}\\.`)
    const ordinals = peers.value.map((peer) => {
      const match = pattern.exec(peer.host)
      expect(match, `PEERS entry ${peer.host} is <statefulset>-<i>.<headless service>...`).not.toBeNull()
      const i = Number(match?.[1])
      expect(i, `PEERS entry ${peer.host}: ordinal below replicas`).toBeLessThan(set.replicas)
      // The same string as that pod's ADDR, so each node recognises (and skips) itself.
      expect(formatHostPort(peer), `PEERS entry ${i} is pod ${i}'s ADDR`).toBe(formatHostPort(addrs[i]?.addr ?? peer))
      return i
    })
    expect(ordinals.sort((a, b) => a - b), "PEERS names each pod once").toEqual(Array.from({ length: set.replicas }, (_, i) => i))
  }
}

export const checkK8sProbes = (docs: ReadonlyArray<Mapping>) => {
  const set = statefulSetOf(docs)
  const { admin } = k8sAddresses(docs, set, 0)
  for (const [probe, path] of [["readinessProbe", "/readyz"], ["livenessProbe", "/healthz"]] as const) {
    const http = mapping(mapping(set.container[probe], probe).httpGet, `${probe}.httpGet`)
    expect(http.path, `${probe} path`).toBe(path)
    expect(containerPort(set, http.port), `${probe} asks the ADMIN_ADDR port`).toBe(admin.port)
  }
  expect(containerPort(set, "admin"), "the admin container port is ADMIN_ADDR's").toBe(admin.port)
  const grace = Number(set.pod.terminationGracePeriodSeconds ?? 30) * 1000
  expect(grace, "terminationGracePeriodSeconds covers drain + hand-off + margin")
    .toBeGreaterThanOrEqual(shutdownBudgetMs(podEnv(docs, set, 0), "pod"))
  // Updates one pod at a time, gated by readiness (the default RollingUpdate, at most one unavailable).
  const strategy = set.spec.updateStrategy === undefined ? {} : mapping(set.spec.updateStrategy, "updateStrategy")
  expect(strategy.type ?? "RollingUpdate", "rolling updates").toBe("RollingUpdate")
  const rolling = strategy.rollingUpdate === undefined ? {} : mapping(strategy.rollingUpdate, "rollingUpdate")
  expect(rolling.maxUnavailable ?? 1, "one pod at a time").toBe(1)
}

export const checkK8sPod = (docs: ReadonlyArray<Mapping>) => {
  const set = statefulSetOf(docs)
  expect(set.container.image, "the image placeholder").toBe("quorum-cache:latest")
  const resources = mapping(set.container.resources, "resources")
  for (const kind of ["requests", "limits"] as const) {
    const r = mapping(resources[kind], `resources.${kind}`)
    expect(r.memory, `memory ${kind}`).toBeDefined()
    expect(r.cpu, `cpu ${kind}`).toBeDefined()
  }
  const podSecurity = mapping(set.pod.securityContext, "pod securityContext")
  expect(podSecurity.runAsNonRoot, "runAsNonRoot").toBe(true)
  expect(Number(podSecurity.runAsUser), "a non-root uid").toBeGreaterThan(0)
  const security = mapping(set.container.securityContext, "container securityContext")
  expect(security.allowPrivilegeEscalation, "no privilege escalation").toBe(false)
  expect(mapping(security.capabilities, "capabilities").drop, "no capabilities").toContain("ALL")
}

/**
 * Every pod authenticates its peers: CLUSTER_SECRET from a Secret that must
 * exist (not optional, and not written in the manifests), or PEER_TLS_*; the
 * node accepts the pod's settings with it, and would refuse them without.
 */
export const checkK8sPeerAuthentication = (docs: ReadonlyArray<Mapping>) => {
  const set = statefulSetOf(docs)
  const env = podEnv(docs, set, 0)
  expect(env.INSECURE_CLUSTER?.toLowerCase() ?? "false", "INSECURE_CLUSTER is not on").not.toMatch(/^(true|1|yes)$/)
  const entries = list(set.container.env ?? [], "env").map((e) => mapping(e, "env entry"))
  const mutualTls = ["PEER_TLS_CA_FILE", "PEER_TLS_CERT_FILE", "PEER_TLS_KEY_FILE"].every((k) => entries.some((e) => e.name === k) || env[k] !== undefined)
  if (!mutualTls) {
    const secret = entries.find((e) => e.name === "CLUSTER_SECRET")
    expect(secret, "CLUSTER_SECRET or PEER_TLS_* is set").toBeDefined()
    const ref = mapping(mapping(secret?.valueFrom, "CLUSTER_SECRET valueFrom").secretKeyRef, "CLUSTER_SECRET secretKeyRef")
    expect(ref.optional ?? false, "the Secret must exist: the pod does not start without it").toBe(false)
    expect(env.CLUSTER_SECRET, "CLUSTER_SECRET is not written in the manifests").toBeUndefined()
    for (const doc of ofKind(docs, "Secret")) {
      expect(nameOf(doc), "the Secret's value is not in the repository").not.toBe(ref.name)
    }
  }
  const deployed = mutualTls ? env : { ...env, CLUSTER_SECRET: SAMPLE_SECRET }
  expect(nodeConfigError(atRunTime(deployed)), "the node accepts the pod's settings").toBeUndefined()
  expect(nodeConfigError(atRunTime({ ...env, CLUSTER_SECRET: undefined, PEER_TLS_CA_FILE: undefined })), "without peer authentication it would refuse")
    .toContain("CLUSTER_SECRET")
}

/** A pod's environment as its node sees it at run time: ADMIN_TOKEN_FILE names the mounted Secret (here a file with a sample token). */
const atRunTime = (env: Record<string, string | undefined>): Record<string, string | undefined> => {
  if (env.ADMIN_TOKEN_FILE === undefined) return env
  const file = join(mkdtempSync(join(tmpdir(), "k8s-admin-token-")), "admin-token")
  writeFileSync(file, SAMPLE_SECRET)
  return { ...env, ADMIN_TOKEN_FILE: file }
}

/**
 * A node whose admin server binds beyond loopback refuses to start without a
 * token: the pod gets ADMIN_TOKEN from a Secret key, or ADMIN_TOKEN_FILE in a
 * mounted Secret, either one required (optional: false), so a missing Secret
 * stops the pod rather than starting it open; the node accepts the pod's
 * settings with it, and would refuse them without.
 */
export const checkK8sAdminToken = (docs: ReadonlyArray<Mapping>) => {
  const set = statefulSetOf(docs)
  const { admin } = k8sAddresses(docs, set, 0)
  if (isLoopbackHost(admin.host)) return
  const env = list(set.container.env ?? [], "env").map((e) => mapping(e, "env entry"))
  const byName = (name: string) => env.find((e) => e.name === name)
  const token = byName("ADMIN_TOKEN")
  const file = byName("ADMIN_TOKEN_FILE")
  expect(token === undefined || file === undefined, "ADMIN_TOKEN or ADMIN_TOKEN_FILE, not both").toBe(true)
  const deployed = { ...podEnv(docs, set, 0), CLUSTER_SECRET: SAMPLE_SECRET }
  expect(nodeConfigError({ ...deployed, ADMIN_TOKEN: undefined, ADMIN_TOKEN_FILE: undefined }), "without a token the node would refuse")
    .toMatch(/^ADMIN_TOKEN: /)
  if (token !== undefined) {
    const ref = mapping(mapping(token.valueFrom, "ADMIN_TOKEN valueFrom (not a literal)").secretKeyRef, "ADMIN_TOKEN secretKeyRef")
    expect(ref.optional, "ADMIN_TOKEN's Secret is required (optional: false)").toBe(false)
    expect(nodeConfigError({ ...deployed, ADMIN_TOKEN: SAMPLE_SECRET }), "the node accepts the pod's settings").toBeUndefined()
    return
  }
  expect(file, `the admin server binds ${admin.host}: the pod needs ADMIN_TOKEN or ADMIN_TOKEN_FILE`).toBeDefined()
  const path = text(file?.value, "ADMIN_TOKEN_FILE value")
  const mounts = list(set.container.volumeMounts ?? [], "volumeMounts").map((m) => mapping(m, "volumeMount"))
  const mount = mounts.find((m) => posix.dirname(path) === posix.normalize(text(m.mountPath, "mountPath")))
  expect(mount, `${path} is in a mounted volume`).toBeDefined()
  const volume = list(set.pod.volumes ?? [], "volumes").map((v) => mapping(v, "volume")).find((v) => v.name === mount?.name)
  const secret = mapping(volume?.secret, `volume ${String(mount?.name)} is a Secret`)
  expect(secret.optional, `the Secret ${String(secret.secretName)} is required (optional: false)`).toBe(false)
  if (secret.items !== undefined) {
    const paths = list(secret.items, "items").map((item) => mapping(item, "item").path)
    expect(paths, `the Secret's items put a file at ${path}`).toContain(posix.basename(path))
  }
  expect(nodeConfigError(atRunTime(deployed)), "the node accepts the pod's settings").toBeUndefined()
}
