/**
 * The Kubernetes manifests in deploy/k8s, checked by construction: there is no
 * cluster here, so the manifests are parsed and their cross-references checked
 * (names, selectors, ports, addresses, grace periods) against each other and
 * against the node's own parsers. Every check is a function over the parsed
 * documents; "catches broken files" feeds each one a damaged copy and expects
 * it to fail, so none of them passes whatever the files say.
 */
import { describe, expect, it } from "vitest"
import { clone, list, type Mapping, mapping, read } from "./files.js"
import {
  checkK8sAdminToken,
  checkK8sPeerAuthentication,
  checkK8sPeers,
  checkK8sPod,
  checkK8sProbes,
  checkK8sServices,
  K8S_DIR,
  loadK8s,
  ofKind,
  statefulSetOf
} from "./kubernetesChecks.js"

describe("deploy/k8s", () => {
  it("parses; the StatefulSet's serviceName is a headless Service, and every selector matches the pods", () => {
    checkK8sServices(loadK8s())
  })

  it("builds ADDR from the pod name and lists every pod of the StatefulSet in PEERS", () => {
    checkK8sPeers(loadK8s())
  })

  it("probes /readyz and /healthz on the ADMIN_ADDR port, with a grace period above drain + hand-off", () => {
    checkK8sProbes(loadK8s())
  })

  it("gives the pods the admin token from a required Secret, as their admin servers bind every interface", () => {
    checkK8sAdminToken(loadK8s())
  })

  it("runs the placeholder image as non-root with resource requests and limits", () => {
    checkK8sPod(loadK8s())
  })

  it("has every pod authenticate its peers with a CLUSTER_SECRET from a Secret that must exist", () => {
    checkK8sPeerAuthentication(loadK8s())
  })

  it("has a README on how to apply it", () => {
    expect(read(`${K8S_DIR}/README.md`)).toContain(`kubectl apply -f ${K8S_DIR}/`)
  })
})

// ---- each check fails on a broken file ---------------------------------------------------

const k8sContainer = (docs: ReadonlyArray<Mapping>): Mapping => statefulSetOf(docs).container
const k8sEnv = (docs: ReadonlyArray<Mapping>, key: string): Mapping => {
  const entry = list(k8sContainer(docs).env, "env").map((e) => mapping(e, "env")).find((e) => e.name === key)
  return mapping(entry, key)
}

describe("the checks catch broken files", () => {
  const k8sCases: ReadonlyArray<readonly [string, (docs: Array<Mapping>) => void, (docs: ReadonlyArray<Mapping>) => void]> = [
    ["serviceName naming a Service with a cluster IP", (docs) => {
      mapping(statefulSetOf(docs).spec, "spec").serviceName = "quorum-cache"
    }, checkK8sServices],
    ["a headless Service hiding pods that are not ready", (docs) => {
      const headless = ofKind(docs, "Service").find((s) => mapping(s.spec, "spec").clusterIP === "None")
      mapping(headless?.spec, "spec").publishNotReadyAddresses = false
    }, checkK8sServices],
    ["a Service selecting other pods", (docs) => {
      mapping(ofKind(docs, "Service")[1]?.spec, "spec").selector = { app: "something-else" }
    }, checkK8sServices],
    ["a PDB allowing two pods down", (docs) => {
      mapping(ofKind(docs, "PodDisruptionBudget")[0]?.spec, "spec").maxUnavailable = 2
    }, checkK8sServices],
    ["pods started one after another", (docs) => {
      mapping(statefulSetOf(docs).spec, "spec").podManagementPolicy = "OrderedReady"
    }, checkK8sPeers],
    ["a PEERS entry for a pod that does not exist", (docs) => {
      const peers = k8sEnv(docs, "PEERS")
      peers.value = String(peers.value).replace("quorum-cache-2.", "quorum-cache-3.")
    }, checkK8sPeers],
    ["PEERS through another service", (docs) => {
      const peers = k8sEnv(docs, "PEERS")
      peers.value = String(peers.value).replaceAll("quorum-cache-headless", "quorum-cache")
    }, checkK8sPeers],
    ["ADDR without the namespace expanded", (docs) => {
      const env = list(k8sContainer(docs).env, "env") as Array<unknown>
      const index = env.findIndex((e) => mapping(e, "env").name === "POD_NAMESPACE")
      const [namespace] = env.splice(index, 1)
      env.push(namespace)
    }, checkK8sPeers],
    ["ADDR on another port than LISTEN_ADDR", (docs) => {
      const addr = k8sEnv(docs, "ADDR")
      addr.value = String(addr.value).replace(/:8080$/, ":8081")
    }, checkK8sPeers],
    ["readiness on /healthz", (docs) => {
      mapping(mapping(k8sContainer(docs).readinessProbe, "probe").httpGet, "httpGet").path = "/healthz"
    }, checkK8sProbes],
    ["readiness on the gRPC port", (docs) => {
      mapping(mapping(k8sContainer(docs).readinessProbe, "probe").httpGet, "httpGet").port = "grpc"
    }, checkK8sProbes],
    ["the default 30 s grace period", (docs) => {
      delete statefulSetOf(docs).pod.terminationGracePeriodSeconds
    }, checkK8sProbes],
    ["a hand-off longer than the grace period", (docs) => {
      const configMap = ofKind(docs, "ConfigMap")[0]
      mapping(configMap?.data, "data").HANDOFF_TIMEOUT = "5m"
    }, checkK8sProbes],
    ["a cluster secret that is optional", (docs) => {
      mapping(mapping(k8sEnv(docs, "CLUSTER_SECRET").valueFrom, "valueFrom").secretKeyRef, "secretKeyRef").optional = true
    }, checkK8sPeerAuthentication],
    ["no cluster secret", (docs) => {
      const env = list(k8sContainer(docs).env, "env") as Array<unknown>
      env.splice(env.findIndex((e) => mapping(e, "env").name === "CLUSTER_SECRET"), 1)
    }, checkK8sPeerAuthentication],
    ["the secret's value in the manifests", (docs) => {
      docs.push({ apiVersion: "v1", kind: "Secret", metadata: { name: "quorum-cache-secret" }, stringData: { "cluster-secret": "0123456789abcdef" } })
    }, checkK8sPeerAuthentication],
    ["INSECURE_CLUSTER on", (docs) => {
      mapping(ofKind(docs, "ConfigMap")[0]?.data, "data").INSECURE_CLUSTER = "true"
    }, checkK8sPeerAuthentication],
    ["an admin token Secret that may be missing", (docs) => {
      const volume = list(statefulSetOf(docs).pod.volumes, "volumes").map((v) => mapping(v, "volume")).find((v) => v.name === "admin-token")
      mapping(volume?.secret, "secret").optional = true
    }, checkK8sAdminToken],
    ["no admin token", (docs) => {
      const env = list(k8sContainer(docs).env, "env") as Array<unknown>
      env.splice(env.findIndex((e) => mapping(e, "env").name === "ADMIN_TOKEN_FILE"), 1)
    }, checkK8sAdminToken],
    ["the token file outside the Secret's mount", (docs) => {
      k8sEnv(docs, "ADMIN_TOKEN_FILE").value = "/etc/quorum-cache/admin-token"
    }, checkK8sAdminToken],
    ["the token from an optional Secret key", (docs) => {
      const entry = k8sEnv(docs, "ADMIN_TOKEN_FILE")
      delete entry.value
      entry.name = "ADMIN_TOKEN"
      entry.valueFrom = { secretKeyRef: { name: "quorum-cache-admin", key: "admin-token", optional: true } }
    }, checkK8sAdminToken],
    ["a pod that may run as root", (docs) => {
      mapping(statefulSetOf(docs).pod.securityContext, "securityContext").runAsNonRoot = false
    }, checkK8sPod],
    ["no memory limit", (docs) => {
      delete mapping(mapping(k8sContainer(docs).resources, "resources").limits, "limits").memory
    }, checkK8sPod]
  ]
  for (const [what, damage, check] of k8sCases) {
    it(`k8s: ${what}`, () => {
      check(loadK8s())
      const broken = clone([...loadK8s()])
      damage(broken)
      expect(() => check(broken)).toThrow()
    })
  }
})
