#!/usr/bin/env python3
"""Smoke test with a client that knows nothing of Continuum's code: Python grpcio with server reflection.

Against a running `continuum up --demo` (ports given on the command line), it lists the services through
reflection, checks SERVING health for each, builds a SubmitIntake request from the descriptors that
reflection returns, submits it, and reads the routing decision back with GetIntake.

Usage: CONTINUUM_TOKEN=... smoke_reflection.py HOST INTAKE_PORT MATCHING_PORT REFERRAL_PORT WAITLIST_PORT
(the token is a development token from `continuum token mint`; health and reflection need none)
Needs: pip install grpcio grpcio-reflection grpcio-health-checking protobuf
"""
import json
import os
import sys
import uuid

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, json_format
from google.protobuf.message_factory import GetMessageClass
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

EXPECTED = {
    "intake": "continuum.intake.v1.IntakeService",
    "matching": "continuum.matching.v1.MatchingService",
    "referral": "continuum.referral.v1.ReferralService",
    "waitlist": "continuum.waitlist.v1.WaitlistService",
}


def reflect(channel, requests):
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    return list(stub.ServerReflectionInfo(iter(requests)))


def list_services(channel):
    (resp,) = reflect(channel, [reflection_pb2.ServerReflectionRequest(list_services="")])
    return sorted(s.name for s in resp.list_services_response.service)


def pool_for(channel, symbol):
    pool = descriptor_pool.DescriptorPool()
    seen = set()
    pending = reflect(channel, [reflection_pb2.ServerReflectionRequest(file_containing_symbol=symbol)])
    files = []
    for resp in pending:
        files.extend(resp.file_descriptor_response.file_descriptor_proto)
    protos = {}
    while files:
        raw = files.pop()
        fd = descriptor_pb2.FileDescriptorProto.FromString(raw)
        if fd.name in protos:
            continue
        protos[fd.name] = fd
        for dep in fd.dependency:
            if dep not in protos and dep not in seen:
                seen.add(dep)
                for r in reflect(channel, [reflection_pb2.ServerReflectionRequest(file_by_filename=dep)]):
                    files.extend(r.file_descriptor_response.file_descriptor_proto)
    added = set()

    def add(name):
        if name in added:
            return
        for dep in protos[name].dependency:
            add(dep)
        pool.Add(protos[name])
        added.add(name)

    for name in protos:
        add(name)
    return pool


METADATA = [("authorization", "Bearer " + os.environ["CONTINUUM_TOKEN"])] if os.environ.get("CONTINUUM_TOKEN") else []


def unary(channel, pool, method, body):
    service_name, method_name = method.rsplit("/", 1)
    m = pool.FindServiceByName(service_name).FindMethodByName(method_name)
    req_cls = GetMessageClass(m.input_type)
    resp_cls = GetMessageClass(m.output_type)
    call = channel.unary_unary(f"/{service_name}/{method_name}", request_serializer=lambda x: x.SerializeToString(),
                               response_deserializer=resp_cls.FromString)
    return json_format.MessageToDict(call(json_format.ParseDict(body, req_cls()), timeout=30, metadata=METADATA))


def main():
    host, ports = sys.argv[1], dict(zip(["intake", "matching", "referral", "waitlist"], sys.argv[2:6]))
    for name, port in ports.items():
        ch = grpc.insecure_channel(f"{host}:{port}")
        services = list_services(ch)
        assert EXPECTED[name] in services, (name, services)
        health = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(service=EXPECTED[name]), timeout=10)
        assert health.status == health_pb2.HealthCheckResponse.SERVING, (name, health)
        print(f"{name}: {EXPECTED[name]} listed by reflection, health SERVING")
    ch = grpc.insecure_channel(f"{host}:{ports['intake']}")
    pool = pool_for(ch, EXPECTED["intake"])
    submitted = unary(ch, pool, "continuum.intake.v1.IntakeService/SubmitIntake", {
        "idempotencyKey": f"smoke-{uuid.uuid4()}",
        "organizationId": "0190d5a0-0000-7000-8000-000000000001",
        "client": {"givenName": "Smoke", "familyName": "Test", "dateOfBirth": {"year": 1991, "month": 2, "day": 3},
                   "preferredLanguage": "en", "jurisdiction": "US-CA", "paymentOption": "PAYMENT_OPTION_SELF_PAY"},
        "screeners": {"phq9": {"items": [2, 2, 1, 1, 1, 1, 1, 2, 0]}},
        "consent": {"shareWithReferralRecipient": True},
    })
    intake_id = submitted["intake"]["id"]
    got = unary(ch, pool, "continuum.intake.v1.IntakeService/GetIntake", {"intakeId": intake_id})
    routing = got["intake"]["routing"]
    assert routing["status"] in ("ROUTING_STATUS_REFERRED", "ROUTING_STATUS_WAITLISTED"), routing
    print("submitted intake", intake_id, "routing:", json.dumps(routing))
    print("smoke passed")


if __name__ == "__main__":
    main()
