"""An independent client on gRPC's C core (Debian's python3-grpcio) and
Google's protobuf runtime: it builds the request classes from the node's
descriptor set, then sets, gets and deletes a key and lists services over
both reflection versions. Prints one JSON object with what it saw."""
import json
import sys

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory


def message_classes(descriptor_set_path):
    fds = descriptor_pb2.FileDescriptorSet()
    with open(descriptor_set_path, "rb") as f:
        fds.ParseFromString(f.read())
    pool = descriptor_pool.DescriptorPool()
    for file in fds.file:
        pool.Add(file)
    factory = message_factory.MessageFactory(pool)

    def cls(name):
        descriptor = pool.FindMessageTypeByName(name)
        get = getattr(message_factory, "GetMessageClass", None)
        return get(descriptor) if get else factory.GetPrototype(descriptor)

    return {n: cls("pb." + n) for n in ["SetRequest", "SetResponse", "GetRequest", "GetResponse", "DeleteRequest", "DeleteResponse"]}


def unary(channel, method, request_cls, response_cls):
    return channel.unary_unary(
        "/pb.CacheService/" + method,
        request_serializer=request_cls.SerializeToString,
        response_deserializer=response_cls.FromString,
    )


def list_services(channel, package):
    # ServerReflectionRequest{list_services: ""}: field 7, length-delimited, empty.
    call = channel.stream_stream(
        "/grpc.reflection.%s.ServerReflection/ServerReflectionInfo" % package,
        request_serializer=lambda b: b,
        response_deserializer=lambda b: b,
    )
    response = next(call(iter([b"\x3a\x00"]), timeout=5))
    return ["pb.CacheService" in response.decode("latin-1"), "grpc.health.v1.Health" in response.decode("latin-1")]


def main():
    address, descriptor_set_path, key = sys.argv[1], sys.argv[2], sys.argv[3]
    m = message_classes(descriptor_set_path)
    out = {}
    with grpc.insecure_channel(address) as channel:
        set_ = unary(channel, "Set", m["SetRequest"], m["SetResponse"])
        get = unary(channel, "Get", m["GetRequest"], m["GetResponse"])
        delete = unary(channel, "Delete", m["DeleteRequest"], m["DeleteResponse"])

        written = set_(m["SetRequest"](key=key, value="from python ✓", ttl_seconds=60), timeout=5)
        out["setVersion"] = written.version.hlc
        got = get(m["GetRequest"](key=key), timeout=5)
        out["value"] = got.value
        out["getVersion"] = got.version.hlc
        set_(m["SetRequest"](key=key + "-bin", value_bytes=bytes([0, 159, 255])), timeout=5)
        out["bytes"] = list(get(m["GetRequest"](key=key + "-bin"), timeout=5).value_bytes)
        out["existed"] = delete(m["DeleteRequest"](key=key), timeout=5).existed
        try:
            get(m["GetRequest"](key=key), timeout=5)
            out["afterDelete"] = "OK"
        except grpc.RpcError as e:
            out["afterDelete"] = e.code().name
        try:
            set_(m["SetRequest"](key="", value="x"), timeout=5)
            out["emptyKey"] = "OK"
        except grpc.RpcError as e:
            out["emptyKey"] = "%s: %s" % (e.code().name, e.details())
        out["reflectionV1"] = list_services(channel, "v1")
        out["reflectionV1alpha"] = list_services(channel, "v1alpha")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
