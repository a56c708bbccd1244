"""An independent gRPC client for the tests: Python grpcio and the C++-backed protobuf runtime.

It knows nothing of the service's .proto files. It lists the services through the reflection service
(grpc.reflection.v1), fetches their descriptors, builds them in a strict DescriptorPool (which rejects
malformed descriptors, e.g. a wrongly named map entry), together with those of the extra message types
asked for, then makes the calls; both are read as JSON from stdin:

    {"messages": ["google.rpc.ErrorInfo"],
     "calls": [{"method": "grpc.health.v1.Health/Check", "request": {"service": ""}}, ...]}

and prints one JSON object on stdout: the listed services, the descriptor files, and each call's
response (proto3 JSON) or error (status code name, details, trailing metadata, and the
google.rpc.Status decoded from grpc-status-details-bin with its google.rpc.ErrorInfo details).
google.rpc.Status and ErrorInfo are declared here from their published field numbers, independently
of the service's code; an ErrorInfo detail is also decoded with the descriptor reflection served for
it, when one was asked for. Exit code 1 with a message on stderr when a descriptor is rejected.

Usage: strict_client.py HOST:PORT < calls.json
"""

import json
import sys

import grpc
from google.protobuf import any_pb2, descriptor_pb2, descriptor_pool, json_format, message_factory

FDP = descriptor_pb2.FieldDescriptorProto
TIMEOUT_S = 20
ERROR_INFO_TYPE_URL = "type.googleapis.com/google.rpc.ErrorInfo"
REFLECTION_METHOD = "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"


def message_class(pool, full_name):
    descriptor = pool.FindMessageTypeByName(full_name)
    if hasattr(message_factory, "GetMessageClass"):
        return message_factory.GetMessageClass(descriptor)
    return message_factory.MessageFactory(pool).GetPrototype(descriptor)


def add_field(message, name, number, field_type, label=FDP.LABEL_OPTIONAL, type_name=None, oneof=None):
    field = message.field.add(name=name, number=number, type=field_type, label=label)
    if type_name is not None:
        field.type_name = type_name
    if oneof is not None:
        field.oneof_index = oneof
    return field


def own_types():
    """The reflection messages used here, google.rpc.Status and google.rpc.ErrorInfo, in a private pool."""
    pool = descriptor_pool.DescriptorPool()
    pool.Add(descriptor_pb2.FileDescriptorProto.FromString(any_pb2.DESCRIPTOR.serialized_pb))

    reflection = descriptor_pb2.FileDescriptorProto(
        name="strict_client/reflection.proto", package="grpc.reflection.v1", syntax="proto3"
    )
    request = reflection.message_type.add(name="ServerReflectionRequest")
    request.oneof_decl.add(name="message_request")
    add_field(request, "host", 1, FDP.TYPE_STRING)
    add_field(request, "file_containing_symbol", 4, FDP.TYPE_STRING, oneof=0)
    add_field(request, "list_services", 7, FDP.TYPE_STRING, oneof=0)
    response = reflection.message_type.add(name="ServerReflectionResponse")
    response.oneof_decl.add(name="message_response")
    add_field(response, "file_descriptor_response", 4, FDP.TYPE_MESSAGE,
              type_name=".grpc.reflection.v1.FileDescriptorResponse", oneof=0)
    add_field(response, "list_services_response", 6, FDP.TYPE_MESSAGE,
              type_name=".grpc.reflection.v1.ListServiceResponse", oneof=0)
    add_field(response, "error_response", 7, FDP.TYPE_MESSAGE,
              type_name=".grpc.reflection.v1.ErrorResponse", oneof=0)
    files = reflection.message_type.add(name="FileDescriptorResponse")
    add_field(files, "file_descriptor_proto", 1, FDP.TYPE_BYTES, label=FDP.LABEL_REPEATED)
    services = reflection.message_type.add(name="ListServiceResponse")
    add_field(services, "service", 1, FDP.TYPE_MESSAGE, label=FDP.LABEL_REPEATED,
              type_name=".grpc.reflection.v1.ServiceResponse")
    service = reflection.message_type.add(name="ServiceResponse")
    add_field(service, "name", 1, FDP.TYPE_STRING)
    error = reflection.message_type.add(name="ErrorResponse")
    add_field(error, "error_code", 1, FDP.TYPE_INT32)
    add_field(error, "error_message", 2, FDP.TYPE_STRING)
    pool.Add(reflection)

    rpc = descriptor_pb2.FileDescriptorProto(
        name="strict_client/rpc.proto", package="google.rpc", syntax="proto3",
        dependency=["google/protobuf/any.proto"],
    )
    status = rpc.message_type.add(name="Status")
    add_field(status, "code", 1, FDP.TYPE_INT32)
    add_field(status, "message", 2, FDP.TYPE_STRING)
    add_field(status, "details", 3, FDP.TYPE_MESSAGE, label=FDP.LABEL_REPEATED,
              type_name=".google.protobuf.Any")
    info = rpc.message_type.add(name="ErrorInfo")
    add_field(info, "reason", 1, FDP.TYPE_STRING)
    add_field(info, "domain", 2, FDP.TYPE_STRING)
    add_field(info, "metadata", 3, FDP.TYPE_MESSAGE, label=FDP.LABEL_REPEATED,
              type_name=".google.rpc.ErrorInfo.MetadataEntry")
    entry = info.nested_type.add(name="MetadataEntry")
    entry.options.map_entry = True
    add_field(entry, "key", 1, FDP.TYPE_STRING)
    add_field(entry, "value", 2, FDP.TYPE_STRING)
    pool.Add(rpc)

    names = ["ServerReflectionRequest", "ServerReflectionResponse"]
    types = {name: message_class(pool, "grpc.reflection.v1." + name) for name in names}
    types["Status"] = message_class(pool, "google.rpc.Status")
    types["ErrorInfo"] = message_class(pool, "google.rpc.ErrorInfo")
    return types


def reflect(channel, types, **request):
    """One ServerReflectionInfo exchange; raises on an error_response."""
    call = channel.stream_stream(
        REFLECTION_METHOD,
        request_serializer=lambda m: m.SerializeToString(),
        response_deserializer=types["ServerReflectionResponse"].FromString,
    )
    answers = list(call(iter([types["ServerReflectionRequest"](**request)]), timeout=TIMEOUT_S))
    if len(answers) != 1:
        raise RuntimeError("expected one reflection answer, got %d" % len(answers))
    answer = answers[0]
    if answer.WhichOneof("message_response") == "error_response":
        raise RuntimeError("reflection error %d: %s" % (
            answer.error_response.error_code, answer.error_response.error_message))
    return answer


def load_descriptors(channel, types, services, messages):
    """Adds every file describing `services` and `messages` to a fresh strict pool; fails on the first bad one."""
    pool = descriptor_pool.DescriptorPool()
    files = {}
    for symbol in services + messages:
        answer = reflect(channel, types, file_containing_symbol=symbol)
        for raw in answer.file_descriptor_response.file_descriptor_proto:
            proto = descriptor_pb2.FileDescriptorProto.FromString(raw)
            files.setdefault(proto.name, proto)
    added = set()
    # Dependencies first; each round adds at least one file or stops.
    for _ in range(len(files) + 1):
        ready = [p for n, p in sorted(files.items())
                 if n not in added and all(d in added for d in p.dependency)]
        if not ready:
            break
        for proto in ready:
            try:
                pool.AddSerializedFile(proto.SerializeToString())
                pool.FindFileByName(proto.name)
            except Exception as err:  # the runtime's own message says what it rejects
                raise SystemExit("descriptor %s rejected: %s" % (proto.name, err))
            added.add(proto.name)
    missing = sorted(set(files) - added)
    if missing:
        raise SystemExit("descriptors with unresolvable dependencies: %s" % missing)
    for service in services:
        try:
            pool.FindServiceByName(service)
        except Exception as err:
            raise SystemExit("service %s not described: %s" % (service, err))
    for message in messages:
        try:
            pool.FindMessageTypeByName(message)
        except Exception as err:
            raise SystemExit("message %s not described: %s" % (message, err))
    return pool, sorted(files)


def decode_status(pool, types, raw):
    status = types["Status"].FromString(raw)
    details = []
    for detail in status.details:
        entry = {"typeUrl": detail.type_url}
        if detail.type_url == ERROR_INFO_TYPE_URL:
            info = types["ErrorInfo"].FromString(detail.value)
            entry["errorInfo"] = {"reason": info.reason, "domain": info.domain,
                                  "metadata": dict(info.metadata)}
            try:
                reflected = message_class(pool, "google.rpc.ErrorInfo")
            except KeyError:
                reflected = None
            if reflected is not None:
                entry["errorInfoViaReflection"] = json_format.MessageToDict(reflected.FromString(detail.value))
        details.append(entry)
    return {"code": status.code, "message": status.message, "details": details}


def call(channel, pool, types, method, request):
    service_name, method_name = method.split("/")
    descriptor = pool.FindServiceByName(service_name).FindMethodByName(method_name)
    request_class = message_class(pool, descriptor.input_type.full_name)
    response_class = message_class(pool, descriptor.output_type.full_name)
    stub = channel.unary_unary(
        "/" + method,
        request_serializer=lambda m: m.SerializeToString(),
        response_deserializer=response_class.FromString,
    )
    try:
        response = stub(json_format.ParseDict(request, request_class()), timeout=TIMEOUT_S)
    except grpc.RpcError as err:
        trailers = {}
        status = None
        for key, value in err.trailing_metadata() or ():
            if key == "grpc-status-details-bin":
                status = decode_status(pool, types, value)
                trailers[key] = "(%d bytes)" % len(value)
            else:
                trailers[key] = value if isinstance(value, str) else value.hex()
        return {"ok": False, "code": err.code().name, "details": err.details(),
                "trailers": trailers, "status": status}
    return {"ok": True, "response": json_format.MessageToDict(response)}


def main():
    address = sys.argv[1]
    wanted = json.load(sys.stdin)
    types = own_types()
    with grpc.insecure_channel(address) as channel:
        listed = reflect(channel, types, list_services="*")
        services = [s.name for s in listed.list_services_response.service]
        described = [s for s in services if not s.startswith("grpc.reflection.")]
        pool, files = load_descriptors(channel, types, described, wanted.get("messages", []))
        results = [call(channel, pool, types, c["method"], c.get("request", {}))
                   for c in wanted.get("calls", [])]
    json.dump({"services": services, "files": files, "calls": results}, sys.stdout)


if __name__ == "__main__":
    main()
