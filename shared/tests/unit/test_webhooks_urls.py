"""Which URLs webhooks may go to: https and public addresses only, outside dev."""

from __future__ import annotations

import pytest

from shared.webhooks import UnsafeEndpointUrl, validate_endpoint_url


def resolver(*addresses):
    def resolve(host, port):
        return list(addresses)
    return resolve


PUBLIC = resolver("93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c")


def test_a_public_https_url_is_accepted_outside_dev():
    url = "https://hooks.example.com/bridgeline?tenant=1"
    assert validate_endpoint_url(url, allow_insecure=False, resolve=PUBLIC) == url


@pytest.mark.parametrize("url", ["http://hooks.example.com/x", "ftp://hooks.example.com/x",
                                 "hooks.example.com/x", "javascript:alert(1)", ""])
def test_outside_dev_only_https_is_accepted(url):
    with pytest.raises(UnsafeEndpointUrl, match="https"):
        validate_endpoint_url(url, allow_insecure=False, resolve=PUBLIC)


@pytest.mark.parametrize("address", [
    "127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1",
    "0.0.0.0", "224.0.0.1", "255.255.255.255", "::1", "fe80::1", "fd00::1", "::ffff:10.0.0.1",
    "64:ff9b::a00:1", "2002:a00:1::1", "fe80::1%eth0",
])
def test_outside_dev_a_host_resolving_to_a_non_public_address_is_refused(address):
    with pytest.raises(UnsafeEndpointUrl, match="non-public"):
        validate_endpoint_url("https://hooks.example.com/", allow_insecure=False,
                              resolve=resolver(address))


def test_every_resolved_address_must_be_public():
    with pytest.raises(UnsafeEndpointUrl):
        validate_endpoint_url("https://hooks.example.com/", allow_insecure=False,
                              resolve=resolver("93.184.215.14", "10.0.0.7"))


@pytest.mark.parametrize("url", ["https://127.0.0.1/x", "https://[::1]/x", "https://localhost/x",
                                 "https://2130706433/x", "https://0x7f.1/x"])
def test_local_targets_are_refused_with_the_real_resolver(url):
    with pytest.raises(UnsafeEndpointUrl):
        validate_endpoint_url(url, allow_insecure=False)


def test_a_host_that_does_not_resolve_is_refused():
    with pytest.raises(UnsafeEndpointUrl, match="does not resolve"):
        validate_endpoint_url("https://no-such-host.invalid/x", allow_insecure=False)


@pytest.mark.parametrize("url, why", [
    ("https://user:pw@hooks.example.com/x", "credentials"),
    ("https://hooks.example.com:99999/x", "port"),
    ("https:///x", "no host"),
])
def test_malformed_urls_are_refused_in_every_environment(url, why):
    for allow_insecure in (False, True):
        with pytest.raises(UnsafeEndpointUrl, match=why) as caught:
            validate_endpoint_url(url, allow_insecure=allow_insecure, resolve=PUBLIC)
        assert "pw" not in str(caught.value)


@pytest.mark.parametrize("url", ["http://localhost:9000/hooks", "http://127.0.0.1:8081/x",
                                 "https://10.0.0.5/x"])
def test_in_dev_http_and_local_targets_are_allowed(url):
    assert validate_endpoint_url(url, allow_insecure=True) == url


def test_in_dev_other_schemes_are_still_refused():
    with pytest.raises(UnsafeEndpointUrl):
        validate_endpoint_url("file:///etc/passwd", allow_insecure=True)


def test_it_is_a_value_error_for_callers_that_catch_those():
    assert issubclass(UnsafeEndpointUrl, ValueError)
