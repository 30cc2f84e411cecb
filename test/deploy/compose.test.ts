/**
 * docker-compose.yml, deploy/otel-collector.yaml and deploy/prometheus.yml,
 * checked by construction: there is no container engine here, so the files are
 * parsed and their cross-references checked (names, ports, addresses, grace
 * periods) against each other and against the node's own parsers. Every check
 * is a function over the parsed files; "catches broken files" feeds each one a
 * damaged copy and expects it to fail, so none of them passes whatever the
 * files say.
 */
import { describe, expect, it } from "vitest"
import { parse } from "yaml"
import {
  checkAddresses,
  checkAdminToken,
  checkCacheNodes,
  checkDependsOn,
  checkImagesPinned,
  checkNodePorts,
  checkPeerAuthentication,
  checkPeers,
  checkPrometheusToken,
  checkStopGrace
} from "./composeChecks.js"
import { clone, list, loadYaml, type Mapping, mapping, read } from "./files.js"
import { checkCollectorConfig, checkNodeTracing, checkPrometheus } from "./telemetryChecks.js"

const compose = () => loadYaml("docker-compose.yml")
const collectorConfig = () => loadYaml("deploy/otel-collector.yaml")
const prometheusConfig = () => loadYaml("deploy/prometheus.yml")

describe("docker-compose.yml", () => {
  it("parses, and defines cache1..cache3 from one shared definition", () => {
    expect(() => parse(read("docker-compose.yml"), { merge: true, prettyErrors: true, uniqueKeys: true })).not.toThrow()
    checkCacheNodes(compose())
  })

  it("gives every node PEERS that name the other nodes, never itself, on the port they listen on", () => {
    checkPeers(compose())
  })

  it("has each node known by its own service name (ADDR) while binding every interface", () => {
    checkAddresses(compose())
  })

  it("publishes and health-checks the ports the nodes listen on (LISTEN_ADDR, ADMIN_ADDR)", () => {
    checkNodePorts(compose())
  })

  it("requires ADMIN_TOKEN for every node whose admin server binds beyond loopback", () => {
    checkAdminToken(compose())
  })

  it("sends OTLP to the collector service on the port its receiver takes for that protocol", () => {
    checkNodeTracing(compose(), collectorConfig())
  })

  it("has depends_on naming defined services, with valid conditions and no cycle", () => {
    checkDependsOn(compose())
  })

  it("gives each node a stop_grace_period above DRAIN_TIMEOUT + HANDOFF_TIMEOUT", () => {
    checkStopGrace(compose())
  })

  it("pins every pulled image and publishes the Jaeger UI", () => {
    checkImagesPinned(compose())
  })

  it("has every node authenticate its peers with a CLUSTER_SECRET compose requires from the environment", () => {
    checkPeerAuthentication(compose())
  })
})

describe("deploy/otel-collector.yaml and deploy/prometheus.yml", () => {
  it("defines every pipeline component and exports traces to Jaeger's OTLP port", () => {
    checkCollectorConfig(collectorConfig(), compose())
  })

  it("scrapes every node's admin port", () => {
    checkPrometheus(compose(), prometheusConfig())
  })

  it("scrapes with the admin token, from a secret made of ADMIN_TOKEN", () => {
    checkPrometheusToken(compose(), prometheusConfig())
  })
})

// ---- each check fails on a broken file ---------------------------------------------------

const service = (doc: unknown, name: string): Mapping => mapping(mapping(mapping(doc, "compose").services, "services")[name], name)
const setEnv = (doc: unknown, name: string, key: string, value: string) => {
  mapping(service(doc, name).environment, "environment")[key] = value
}

describe("the checks catch broken files", () => {
  const composeCases: ReadonlyArray<readonly [string, (doc: unknown) => void, (doc: unknown) => void]> = [
    ["a node that lists itself in PEERS", (d) => setEnv(d, "cache1", "PEERS", "cache1,cache2,cache3"), checkPeers],
    ["a PEERS entry naming no service", (d) => setEnv(d, "cache2", "PEERS", "cache1,cache4"), checkPeers],
    ["PEERS missing a node", (d) => setEnv(d, "cache3", "PEERS", "cache1"), checkPeers],
    ["PEERS on a port nobody listens on", (d) => setEnv(d, "cache1", "PEERS", "cache2:9000,cache3"), checkPeers],
    ["ADDR naming another node", (d) => setEnv(d, "cache2", "ADDR", "cache1:8080"), checkAddresses],
    ["LISTEN_ADDR on loopback", (d) => setEnv(d, "cache3", "LISTEN_ADDR", "127.0.0.1:8080"), checkAddresses],
    ["ADMIN_ADDR off a published port", (d) => setEnv(d, "cache1", "ADMIN_ADDR", "0.0.0.0:9999"), checkNodePorts],
    ["a healthcheck on /healthz", (d) => {
      const hc = mapping(service(d, "cache2").healthcheck, "healthcheck")
      hc.test = ["CMD", "node", "-e", "fetch('http://127.0.0.1:9080/healthz')"]
    }, checkNodePorts],
    ["cache1 not publishing the admin port", (d) => {
      service(d, "cache1").ports = ["8080:8080"]
    }, checkNodePorts],
    ["OTLP/HTTP sent to the gRPC port", (d) => setEnv(d, "cache1", "OTEL_EXPORTER_OTLP_ENDPOINT", "http://otel-collector:4317"), (d) =>
      checkNodeTracing(d, collectorConfig())],
    ["OTLP to a service that does not exist", (d) => setEnv(d, "cache2", "OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"), (
      d
    ) => checkNodeTracing(d, collectorConfig())],
    ["OTLP/gRPC to the HTTP port", (d) => setEnv(d, "cache3", "OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"), (d) =>
      checkNodeTracing(d, collectorConfig())],
    ["the collector config mounted elsewhere", (d) => {
      service(d, "otel-collector").volumes = ["./deploy/otel-collector.yaml:/etc/otel/config.yaml:ro"]
    }, (d) => checkNodeTracing(d, collectorConfig())],
    ["depends_on an unknown service", (d) => {
      service(d, "cache1").depends_on = { collector: { condition: "service_started" } }
    }, checkDependsOn],
    ["service_healthy on a service without a healthcheck", (d) => {
      service(d, "otel-collector").depends_on = { jaeger: { condition: "service_healthy" } }
    }, checkDependsOn],
    ["a dependency cycle", (d) => {
      service(d, "jaeger").depends_on = ["otel-collector"]
    }, checkDependsOn],
    ["the default 10 s stop grace period", (d) => {
      delete service(d, "cache2").stop_grace_period
    }, checkStopGrace],
    ["a grace period shorter than a longer hand-off", (d) => setEnv(d, "cache1", "HANDOFF_TIMEOUT", "2m"), checkStopGrace],
    ["an unpinned image", (d) => {
      service(d, "jaeger").image = "jaegertracing/all-in-one:latest"
    }, checkImagesPinned],
    ["the collector exporting to a service that does not exist", (d) => {
      delete mapping(mapping(d, "compose").services, "services").jaeger
    }, (d) => checkCollectorConfig(collectorConfig(), d)],
    ["Jaeger's OTLP gRPC receiver moved", (d) => {
      service(d, "jaeger").image = "jaegertracing/all-in-one:1.76.0"
      service(d, "jaeger").environment = { COLLECTOR_OTLP_GRPC_HOST_PORT: ":14317" }
    }, (d) => checkCollectorConfig(collectorConfig(), d)],
    ["no CLUSTER_SECRET", (d) => {
      delete mapping(service(d, "cache2").environment, "environment").CLUSTER_SECRET
    }, checkPeerAuthentication],
    ["a CLUSTER_SECRET that may be empty", (d) => setEnv(d, "cache1", "CLUSTER_SECRET", "${CLUSTER_SECRET:-}"), checkPeerAuthentication],
    ["a CLUSTER_SECRET written in the file", (d) => setEnv(d, "cache3", "CLUSTER_SECRET", "0123456789abcdef0123"), checkPeerAuthentication],
    ["INSECURE_CLUSTER on", (d) => setEnv(d, "cache1", "INSECURE_CLUSTER", "true"), checkPeerAuthentication],
    ["an admin token Compose does not require", (d) => setEnv(d, "cache2", "ADMIN_TOKEN", "${ADMIN_TOKEN:-change-me-0123456789}"), checkAdminToken],
    ["an admin token that may be empty", (d) => setEnv(d, "cache3", "ADMIN_TOKEN", "${ADMIN_TOKEN?set it}"), checkAdminToken],
    ["an admin token written in the file", (d) => setEnv(d, "cache1", "ADMIN_TOKEN", "0123456789abcdef0123"), checkAdminToken],
    ["a node without an admin token", (d) => {
      delete mapping(service(d, "cache1").environment, "environment").ADMIN_TOKEN
    }, checkAdminToken],
    ["Prometheus without the token secret", (d) => {
      delete service(d, "prometheus").secrets
    }, (d) => checkPrometheusToken(d, prometheusConfig())],
    ["the token secret made of another variable", (d) => {
      mapping(mapping(mapping(d, "compose").secrets, "secrets").admin_token, "admin_token").environment = "OTHER_TOKEN"
    }, (d) => checkPrometheusToken(d, prometheusConfig())],
    ["a scrape target off the admin port", (d) =>
      setEnv(d, "cache2", "ADMIN_ADDR", "0.0.0.0:9180"), (d) => checkPrometheus(d, prometheusConfig())]
  ]
  for (const [what, damage, check] of composeCases) {
    it(`compose: ${what}`, () => {
      check(compose())
      const broken = clone(compose())
      damage(broken)
      expect(() => check(broken)).toThrow()
    })
  }

  const collectorCases: ReadonlyArray<readonly [string, (config: Mapping) => void]> = [
    ["a pipeline naming an undefined processor", (c) => {
      mapping(mapping(mapping(c.service, "service").pipelines, "pipelines").traces, "traces").processors = ["batch", "filter"]
    }],
    ["a pipeline naming an undefined exporter", (c) => {
      delete mapping(c.exporters, "exporters")["otlp_grpc/jaeger"]
    }],
    ["an exporter to the wrong port", (c) => {
      mapping(mapping(c.exporters, "exporters")["otlp_grpc/jaeger"], "exporter").endpoint = "jaeger:4318"
    }],
    ["an exporter that tries TLS against plain Jaeger", (c) => {
      delete mapping(mapping(c.exporters, "exporters")["otlp_grpc/jaeger"], "exporter").tls
    }],
    ["an undefined extension", (c) => {
      mapping(c.service, "service").extensions = ["health_check", "pprof"]
    }]
  ]
  for (const [what, damage] of collectorCases) {
    it(`collector: ${what}`, () => {
      checkCollectorConfig(collectorConfig(), compose())
      const broken = clone(mapping(collectorConfig(), "collector config"))
      damage(broken)
      expect(() => checkCollectorConfig(broken, compose())).toThrow()
    })
  }

  it("collector: a receiver bound to localhost", () => {
    const broken = clone(mapping(collectorConfig(), "collector config"))
    const protocols = mapping(mapping(mapping(broken.receivers, "receivers").otlp, "otlp").protocols, "protocols")
    mapping(protocols.http, "http").endpoint = "localhost:4318"
    expect(() => checkNodeTracing(compose(), broken)).toThrow()
  })

  it("prometheus: a job scraping without the admin token", () => {
    const broken = clone(mapping(prometheusConfig(), "prometheus config"))
    delete mapping(list(broken.scrape_configs, "jobs")[0], "job").authorization
    expect(() => checkPrometheusToken(compose(), broken)).toThrow()
  })

  it("prometheus: a node left unscraped", () => {
    const broken = clone(mapping(prometheusConfig(), "prometheus config"))
    const job = mapping(list(broken.scrape_configs, "jobs")[0], "job")
    mapping(list(job.static_configs, "static")[0], "static").targets = ["cache1:9080", "cache2:9080"]
    expect(() => checkPrometheus(compose(), broken)).toThrow()
  })
})
