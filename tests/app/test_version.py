"""The version a process serves: APP_VERSION from the image tag, `dev` when unset, refused when invalid."""

from __future__ import annotations

import pytest

from app.version import DEV_VERSION, UNKNOWN_COMMIT, BuildInfo, VersionError, is_valid_tag


@pytest.mark.parametrize("tag", ["v1.2.3", "1.0", "_build", "release-2026.11.25", "a" * 128, "sha-0123abc"])
def test_image_tags_are_versions(tag: str) -> None:
    assert is_valid_tag(tag)
    assert BuildInfo.from_environ({"APP_VERSION": tag}).version == tag


@pytest.mark.parametrize("tag", [".hidden", "-dash", "a" * 129, "has space", "v1/2", "ü", "v1:2", "v1\nv2"])
def test_invalid_app_version_is_refused_with_a_sentence_naming_it(tag: str) -> None:
    assert not is_valid_tag(tag)
    with pytest.raises(VersionError) as raised:
        BuildInfo.from_environ({"APP_VERSION": tag})
    message = str(raised.value)
    assert message.startswith("APP_VERSION=")
    assert "unset it for 'dev'" in message
    assert "\n" not in message.replace(repr(tag), "")


@pytest.mark.parametrize("environ", [{}, {"APP_VERSION": ""}, {"APP_VERSION": "   "}])
def test_unset_version_is_dev(environ: dict[str, str]) -> None:
    build = BuildInfo.from_environ(environ)
    assert (build.version, build.commit, build.built) == (DEV_VERSION, UNKNOWN_COMMIT, "")


def test_commit_and_build_time_are_read_too() -> None:
    build = BuildInfo.from_environ({"APP_VERSION": "v1", "APP_COMMIT": "0123abc", "APP_BUILD": "2026-11-25T09:00Z"})
    assert build == BuildInfo(version="v1", commit="0123abc", built="2026-11-25T09:00Z")


def test_build_time_is_cut_to_a_sane_length() -> None:
    assert len(BuildInfo.from_environ({"APP_BUILD": "x" * 500}).built) == 64


@pytest.mark.parametrize("commit", ["not a sha", "x" * 65, "<script>"])
def test_invalid_commit_is_refused(commit: str) -> None:
    with pytest.raises(VersionError, match=r"^APP_COMMIT="):
        BuildInfo.from_environ({"APP_VERSION": "v1", "APP_COMMIT": commit})


def test_real_environment_is_read_when_none_is_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APP_VERSION", "v4.5.6")
    assert BuildInfo.from_environ().version == "v4.5.6"
