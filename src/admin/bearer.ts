import { createHash, timingSafeEqual } from "node:crypto"

const digest = (text: string) => createHash("sha256").update(text).digest()

/** What an `Authorization` header holds compared with the admin token. */
export type BearerVerdict = "ok" | "missing" | "wrong"

const BEARER = /^Bearer +(\S+) *$/i

/**
 * A check of `Authorization: Bearer <token>` against the admin token. Both
 * sides are hashed first so the comparison takes the same time whatever was
 * sent, as `grpc/clusterSecret.ts` does for CLUSTER_SECRET.
 */
export const bearerCheck = (token: string): (authorization: string | undefined) => BearerVerdict => {
  const expected = digest(token)
  return (authorization) => {
    const given = authorization === undefined ? null : BEARER.exec(authorization)
    if (given === null) return "missing"
    return timingSafeEqual(digest(given[1]!), expected) ? "ok" : "wrong"
  }
}
