"""Config values set with `pulumi config set --secret` stay secret in every resource input."""

from __future__ import annotations

from typing import Any, TypeVar, overload

import pulumi

T = TypeVar("T")


@overload
def secret_if(secret: bool, value: pulumi.Output[T]) -> pulumi.Output[T]: ...
@overload
def secret_if(secret: bool, value: T) -> pulumi.Input[T]: ...
def secret_if(secret: bool, value: Any) -> Any:
    """`value` as a Pulumi secret when it came from a key set with `--secret`, else as it is.

    Pulumi encrypts a secret input in the state and masks it in previews; a
    plain value taken from a secret key would be stored in clear text.
    """
    return pulumi.Output.secret(value) if secret else value
