/** The metadata header that carries CLUSTER_SECRET on every call between nodes (when set). */
export const CLUSTER_SECRET_HEADER = "x-cluster-secret"
