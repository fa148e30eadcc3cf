#!/usr/bin/env python3
"""Checks the Graph simulator against Microsoft's own Graph SDK for Python.

The simulator (`m365-operator sim`) is started on 127.0.0.1 with a tenant written for this
run, and reached over HTTPS with its own certificate authority trusted. `azure-identity`
gets tokens from the simulator's token endpoint (by client secret and by certificate), and
`msgraph-sdk` makes the calls the operator depends on. Each check prints one line; the last
line sums them up, and the exit status is 1 when any check failed.

Where the SDK and the simulator disagree, the simulator is the one to fix.

    python tests/conformance/conformance.py [--operator target/debug/m365-operator]
    python tests/conformance/conformance.py --url https://127.0.0.1:PORT --ca-file ca.pem \\
        --certificate cert.pem  # a simulator already running with simulator_config()
"""

import argparse
import asyncio
import datetime
import json
import os
import re
import ssl
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.request
import uuid

TENANT = "11111111-2222-3333-4444-555555555555"
SECRET_CLIENT = "00000000-0000-0000-0000-0000000000c1"
# The simulator's own test secret, in its configuration below; never a real tenant's.
SECRET = "conformance-sim-secret"
CERT_CLIENT = "00000000-0000-0000-0000-0000000000c2"
E3 = "6fd2c87f-b296-42f0-b197-1e91e994b900"
E5 = "c7df2760-2c81-4ef7-b578-5b5392b571df"
GROUP = "0c000000-0000-4000-8000-000000000001"
DOMAIN = "contoso.example"
SEEDED_USERS = 120
SCOPES = ["https://graph.microsoft.com/.default"]
# Meets the simulator's password rules and contains no name used here.
PASSWORD = "Kx9#mVq2!zR7"
READY_TIMEOUT_SECONDS = 60


def main() -> int:
    args = parse_args()
    # Everything this script talks to is on 127.0.0.1; keep any configured proxy out of it.
    os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"
    # azure-core stamps each request with uuid1(), which asks the uuidd daemon over a Unix
    # socket; a random id serves as well and keeps the run off every socket but the
    # simulator's.
    uuid.uuid1 = lambda node=None, clock_seq=None: uuid.uuid4()
    with tempfile.TemporaryDirectory(prefix="graph-conformance-") as workdir:
        try:
            if args.url:
                sim = Simulator.running(args.url, args.ca_file, args.certificate)
            else:
                sim = Simulator.start(args.operator, workdir)
        except (OSError, RuntimeError) as error:
            print(f"FAIL starting the simulator: {error}", flush=True)
            print(f"conformance: 0 passed, {len(CHECKS)} failed")
            return 1
        try:
            passed, failed = asyncio.run(run_checks(sim))
        finally:
            sim.stop()
    print(f"conformance: {passed} passed, {failed} failed")
    return 1 if failed else 0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--operator", default="target/debug/m365-operator",
                        help="the binary whose `sim` subcommand serves the simulator")
    parser.add_argument("--url", help="use a simulator already running at this https URL")
    parser.add_argument("--ca-file", help="with --url: the simulator's CA certificate (PEM)")
    parser.add_argument("--certificate",
                        help="with --url: PEM key and certificate registered for the "
                             "certificate client")
    args = parser.parse_args()
    if args.url and not (args.ca_file and args.certificate):
        parser.error("--url needs --ca-file and --certificate")
    return args


class Simulator:
    """A simulator reachable over HTTPS, and its unauthenticated control API."""

    def __init__(self, https_url, ca_file, certificate_file, process=None):
        self.https = https_url.rstrip("/")
        self.ca_file = ca_file
        self.certificate_file = certificate_file
        self.process = process
        self.tls = ssl.create_default_context(cafile=ca_file)

    @classmethod
    def running(cls, url, ca_file, certificate_file):
        return cls(url, ca_file, certificate_file)

    @classmethod
    def start(cls, operator, workdir):
        key_pem, certificate_pem = make_certificate()
        certificate_file = os.path.join(workdir, "client.pem")
        with open(certificate_file, "w", encoding="ascii") as f:
            f.write(key_pem + certificate_pem)
        ca_file = os.path.join(workdir, "ca.pem")
        config_file = os.path.join(workdir, "tenant.json")
        with open(config_file, "w", encoding="utf-8") as f:
            json.dump(simulator_config(certificate_pem, ca_file), f)
        process = subprocess.Popen(
            [operator, "sim", "--listen", "127.0.0.1:0", "--config", config_file],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        url = read_listening_url(process)
        return cls(url.replace("http://", "https://", 1), ca_file, certificate_file, process)

    def stop(self):
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()

    def control(self, method, path, body=None):
        """A call to the control API (`/_sim/...`), answered as JSON."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.https}/_sim/{path}", data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, context=self.tls, timeout=30) as response:
            return json.load(response)


def read_listening_url(process) -> str:
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            raise RuntimeError("the simulator exited before it was listening")
        found = re.search(r"listening on (http://127\.0\.0\.1:\d+)", line)
        if found:
            return found.group(1)
    raise RuntimeError("the simulator did not start in time")


def simulator_config(certificate_pem: str, ca_file: str) -> dict:
    users = [{"displayName": f"Seed {n:03}", "userPrincipalName": f"seed.{n:03}@{DOMAIN}",
              "usageLocation": "DE"} for n in range(SEEDED_USERS)]
    return {
        "tenantId": TENANT,
        "verifiedDomains": [DOMAIN],
        "clients": [
            {"clientId": SECRET_CLIENT, "clientSecret": SECRET},
            {"clientId": CERT_CLIENT, "certificates": [certificate_pem]},
        ],
        "skus": [
            {"skuPartNumber": "ENTERPRISEPACK", "skuId": E3, "enabled": 500},
            {"skuPartNumber": "ENTERPRISEPREMIUM", "skuId": E5, "enabled": 0},
        ],
        "users": users,
        "groups": [{"id": GROUP, "displayName": "Conformance"}],
        "caCertFile": ca_file,
    }


def make_certificate():
    """An RSA key and a self-signed certificate for the certificate client."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "graph conformance client")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(minutes=5))
                   .not_valid_after(now + datetime.timedelta(days=1))
                   .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    return key_pem, certificate.public_bytes(serialization.Encoding.PEM).decode()


# --- The SDK, pointed at the simulator -----------------------------------------------------

def secret_credential(sim):
    from azure.identity import ClientSecretCredential
    return ClientSecretCredential(TENANT, SECRET_CLIENT, SECRET, authority=sim.https,
                                  disable_instance_discovery=True,
                                  connection_verify=sim.ca_file)


def certificate_credential(sim):
    from azure.identity import CertificateCredential
    return CertificateCredential(TENANT, CERT_CLIENT, certificate_path=sim.certificate_file,
                                 authority=sim.https, disable_instance_discovery=True,
                                 connection_verify=sim.ca_file)


def graph_client(sim, credential):
    """A GraphServiceClient with the SDK's default middleware (retries included), talking to
    the simulator instead of graph.microsoft.com."""
    import httpx
    from kiota_authentication_azure.azure_identity_authentication_provider import (
        AzureIdentityAuthenticationProvider)
    from msgraph import GraphRequestAdapter, GraphServiceClient
    from msgraph_core import GraphClientFactory

    auth = AzureIdentityAuthenticationProvider(credential, scopes=SCOPES,
                                               allowed_hosts=["127.0.0.1"])
    http = httpx.AsyncClient(verify=sim.tls, trust_env=False, timeout=60)
    http = GraphClientFactory.create_with_default_middleware(client=http)
    adapter = GraphRequestAdapter(auth, client=http)
    adapter.base_url = f"{sim.https}/v1.0"
    return GraphServiceClient(request_adapter=adapter)


def new_user(local_part: str):
    from msgraph.generated.models.password_profile import PasswordProfile
    from msgraph.generated.models.user import User
    return User(account_enabled=True, display_name=f"Conformance {local_part}",
                mail_nickname=local_part, user_principal_name=f"{local_part}@{DOMAIN}",
                usage_location="DE",
                password_profile=PasswordProfile(password=PASSWORD,
                                                 force_change_password_next_sign_in=True))


async def expect_odata_error(call, status: int):
    """Runs `call`, which must fail with an ODataError of `status`; returns the error."""
    from msgraph.generated.models.o_data_errors.o_data_error import ODataError
    try:
        await call
    except ODataError as error:
        check(error.response_status_code == status,
              f"status {error.response_status_code}, expected {status}")
        return error
    raise AssertionError(f"expected an error with status {status}, the call succeeded")


def check(condition: bool, message: str):
    if not condition:
        raise AssertionError(message)


# --- The checks ----------------------------------------------------------------------------

async def token_by_secret(sim, client):
    token = secret_credential(sim).get_token(*SCOPES)
    check(bool(token.token) and token.expires_on > time.time(), "no usable token")
    page = await client.users.get()
    check(len(page.value) == 100, f"first page has {len(page.value)} users")


async def token_by_certificate(sim, _client):
    credential = certificate_credential(sim)
    token = credential.get_token(*SCOPES)
    check(bool(token.token), "no token for the certificate client")
    user = await graph_client(sim, credential).users.by_user_id(f"seed.000@{DOMAIN}").get()
    check(user.user_principal_name == f"seed.000@{DOMAIN}", "wrong user read")


async def create_user(_sim, client):
    created = await client.users.post(new_user("conformance.created"))
    check(bool(created.id), "the created user has no id")
    check(created.user_principal_name == f"conformance.created@{DOMAIN}", "wrong UPN back")


async def duplicate_is_object_conflict(_sim, client):
    await client.users.post(new_user("conformance.twice"))
    error = await expect_odata_error(client.users.post(new_user("conformance.twice")), 400)
    check(error.error.code == "Request_BadRequest", f"code {error.error.code}")
    details = error.error.details or []
    check(len(details) == 1 and details[0].code == "ObjectConflict",
          f"details {[d.code for d in details]}")
    check(details[0].target == "userPrincipalName", f"target {details[0].target}")


async def paging_over_all_users(sim, client):
    from msgraph_core.tasks.page_iterator import PageIterator

    first = await client.users.get()
    check(first.odata_next_link.startswith(f"{sim.https}/v1.0/users?"),
          f"next link {first.odata_next_link}")
    seen = []
    iterator = PageIterator(first, client.request_adapter)
    await iterator.iterate(lambda user: seen.append(user.user_principal_name) or True)
    expected = len(sim.control("GET", "state")["users"])
    check(len(seen) == expected, f"iterated {len(seen)} users, the tenant has {expected}")
    check(len(set(seen)) == len(seen), "a user came back twice")


async def license_without_seats(_sim, client):
    from msgraph.generated.models.assigned_license import AssignedLicense
    from msgraph.generated.users.item.assign_license.assign_license_post_request_body import (
        AssignLicensePostRequestBody)

    body = AssignLicensePostRequestBody(
        add_licenses=[AssignedLicense(sku_id=uuid.UUID(E5), disabled_plans=[])],
        remove_licenses=[])
    call = client.users.by_user_id(f"seed.001@{DOMAIN}").assign_license.post(body)
    error = await expect_odata_error(call, 400)
    check("does not have any available licenses" in (error.error.message or ""),
          f"message {error.error.message}")


async def group_member_add_remove(_sim, client):
    from msgraph.generated.models.reference_create import ReferenceCreate

    user = await client.users.by_user_id(f"seed.002@{DOMAIN}").get()
    members = client.groups.by_group_id(GROUP).members
    reference = ReferenceCreate(
        odata_id=f"https://graph.microsoft.com/v1.0/directoryObjects/{user.id}")
    await members.ref.post(reference)
    listed = await members.get()
    check([m.id for m in listed.value] == [user.id], "the member is not listed")
    member_of = await client.users.by_user_id(user.id).member_of.get()
    check([g.id for g in member_of.value] == [GROUP], "memberOf does not show the group")
    again = await expect_odata_error(members.ref.post(reference), 400)
    check("already exist" in again.error.message, f"message {again.error.message}")
    await members.by_directory_object_id(user.id).ref.delete()
    await expect_odata_error(members.by_directory_object_id(user.id).ref.delete(), 404)


async def batch_of_requests(_sim, client):
    from msgraph.generated.models.user import User
    from msgraph_core.requests.batch_request_builder import BatchRequestBuilder
    from msgraph_core.requests.batch_request_content import BatchRequestContent
    from msgraph_core.requests.batch_request_item import BatchRequestItem

    requests = {
        "read": client.users.by_user_id(f"seed.003@{DOMAIN}").to_get_request_information(),
        "create": client.users.to_post_request_information(new_user("conformance.batched")),
        "missing": client.users.by_user_id(f"nobody@{DOMAIN}").to_get_request_information(),
    }
    content = BatchRequestContent()
    for request_id, information in requests.items():
        # add_request_information keeps the item's own random id, so name the item here.
        content.add_request(None, BatchRequestItem(information, id=request_id))
    response = await BatchRequestBuilder(client.request_adapter).post(content)
    statuses = response.get_response_status_codes()
    check(statuses == {"read": 200, "create": 201, "missing": 404}, f"statuses {statuses}")
    read = response.get_response_by_id("read")
    check("json" in (read.content_type or ""), f"content type {read.content_type}")
    # Graph answers JSON bodies inside a batch as JSON objects; this SDK version reads only
    # base64 bodies back (response_body), so the created user is checked with its own call.
    created = await client.users.by_user_id(f"conformance.batched@{DOMAIN}").get()
    check(isinstance(created, User) and bool(created.id), "the batched create did not happen")


async def throttled_call(sim, client):
    from kiota_abstractions.base_request_configuration import RequestConfiguration
    from kiota_http.middleware.options import RetryHandlerOption

    # Three units buy one subscribedSkus read per second; the tenant has over 50 users.
    limits = {"resourceUnitsSmall": 3, "resourceUnitsMedium": 3, "resourceUnitsLarge": 3,
              "resourceUnitWindowMs": 1000}
    sim.control("PUT", "throttling", limits)
    try:
        await client.subscribed_skus.get()
        no_retry = RequestConfiguration(options=[RetryHandlerOption(should_retry=False)])
        error = await expect_odata_error(client.subscribed_skus.get(no_retry), 429)
        headers = {k.lower(): v for k, v in (error.response_headers or {}).items()}
        check(float(headers.get("retry-after", "0")) > 0, f"headers {headers}")
        check(error.error.code == "TooManyRequests", f"code {error.error.code}")
        skus = await client.subscribed_skus.get()
        check(len(skus.value) == 2, "the retried call did not return the subscriptions")
        log = [r["status"] for r in sim.control("GET", "requests")
               if r["path"] == "/v1.0/subscribedSkus"]
        check(log[-2:] == [429, 200], f"the SDK did not retry after the 429: {log}")
    finally:
        sim.control("PUT", "throttling", {})


CHECKS = [token_by_secret, token_by_certificate, create_user, duplicate_is_object_conflict,
          paging_over_all_users, license_without_seats, group_member_add_remove,
          batch_of_requests, throttled_call]


async def run_checks(sim):
    client = graph_client(sim, secret_credential(sim))
    passed = failed = 0
    for run in CHECKS:
        started = time.monotonic()
        try:
            await run(sim, client)
        except Exception as error:  # every failure is reported, and the run goes on
            failed += 1
            print(f"FAIL {run.__name__}: {type(error).__name__}: {error}", flush=True)
            traceback.print_exc(limit=3, file=sys.stderr)
        else:
            passed += 1
            print(f"ok   {run.__name__} ({time.monotonic() - started:.2f}s)", flush=True)
    return passed, failed


if __name__ == "__main__":
    sys.exit(main())
