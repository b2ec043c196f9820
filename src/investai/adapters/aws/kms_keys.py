"""The KeyManager on AWS KMS: data keys from one symmetric customer-managed key (made by ``ensure_data_key``).

Data keys are ``GenerateDataKey`` (AES_256) under an encryption context, and unwrapped by ``Decrypt`` with the
same context and the key pinned, so a wrapped key made for another purpose or under another KMS key does not
open. What rotation means here: KMS keeps every generation of a key's material behind one key id, and a
ciphertext names the material that sealed it, so old data keys always unwrap. Automatic rotation (yearly) is on
from provisioning; :meth:`KmsKeyManager.rotate` asks for an on-demand rotation (KMS allows a limited number per
key). The port's key ids name the material generation: ``<key ARN>#<key material id>`` as KMS reports it, or,
where the service does not report material ids (emulators), ``<key ARN>#rotation-<n>`` counted from
``ListKeyRotations``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from investai.domain.errors import Conflict, IntegrityError, StoreUnavailable
from investai.ports.keys import DataKey

DEFAULT_CONTEXT: Mapping[str, str] = {"purpose": "investai-data"}
"""Bound to every data key: KMS refuses to unwrap it under any other context, and CloudTrail logs it."""

_TAMPERED = frozenset({"InvalidCiphertextException", "IncorrectKeyException"})


class KmsAccessDenied(IntegrityError):
    """KMS refused the wrapped key: its key reference was altered, or this role may not use the key."""

    code = "kms_access_denied"


class KmsKeyManager:
    """A :class:`~investai.ports.keys.KeyManager` over an injected KMS client."""

    health_name = "keys"

    def __init__(self, *, kms: Any, key_id: str, encryption_context: Mapping[str, str] = DEFAULT_CONTEXT) -> None:
        self._kms = kms
        self._key_id = key_id  # an alias, id or ARN
        self._context = dict(encryption_context)

    def generate_data_key(self) -> DataKey:
        answer = self._kms.generate_data_key(KeyId=self._key_id, KeySpec="AES_256", EncryptionContext=self._context)
        key_id = self._generation_id(str(answer["KeyId"]), answer.get("KeyMaterialId"))
        return DataKey(plaintext=bytes(answer["Plaintext"]), wrapped=bytes(answer["CiphertextBlob"]), key_id=key_id)

    def unwrap(self, wrapped: bytes) -> bytes:
        from botocore.exceptions import ParamValidationError

        try:
            answer = self._kms.decrypt(CiphertextBlob=wrapped, EncryptionContext=self._context, KeyId=self._key_id)
        except ParamValidationError as exc:  # empty or longer than any KMS ciphertext
            raise IntegrityError("wrapped data key is malformed") from exc
        except self._kms.exceptions.ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in _TAMPERED:
                raise IntegrityError("wrapped data key failed its authentication check") from exc
            if code == "AccessDeniedException":
                raise KmsAccessDenied(
                    "KMS refused the wrapped data key: it names another key, or this role may not decrypt with it"
                ) from exc
            raise
        return bytes(answer["Plaintext"])

    def rotate(self) -> str:
        """New key material from now on (on-demand rotation; automatic yearly rotation stays on). Returns the
        generation KMS reports as current, which may name the old material until KMS finishes the rotation."""
        arn = self._arn()
        self._kms.enable_key_rotation(KeyId=arn)
        try:
            self._kms.rotate_key_on_demand(KeyId=arn)
        except self._kms.exceptions.ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code == "LimitExceededException":
                raise Conflict("KMS allows no more on-demand rotations of this key; yearly rotation stays on") from exc
            if code == "ConflictException":
                raise StoreUnavailable("a rotation of this KMS key is in progress", retry_after_s=30) from exc
            raise
        return self.current_key_id()

    def current_key_id(self) -> str:
        metadata = self._kms.describe_key(KeyId=self._key_id)["KeyMetadata"]
        return self._generation_id(str(metadata["Arn"]), metadata.get("CurrentKeyMaterialId"))

    def rotation_enabled(self) -> bool:
        """Whether KMS rotates the key automatically."""
        return bool(self._kms.get_key_rotation_status(KeyId=self._arn())["KeyRotationEnabled"])

    def check(self) -> None:
        data_key = self.generate_data_key()
        if self.unwrap(data_key.wrapped) != data_key.plaintext:
            raise IntegrityError("KMS returned another data key than it wrapped")

    # -- internals ----------------------------------------------------------------------------------
    def _arn(self) -> str:
        return str(self._kms.describe_key(KeyId=self._key_id)["KeyMetadata"]["Arn"])

    def _generation_id(self, arn: str, material_id: object) -> str:
        if material_id:
            return f"{arn}#{material_id}"
        rotations = 0
        for page in self._kms.get_paginator("list_key_rotations").paginate(KeyId=arn):
            rotations += len(page.get("Rotations", []))
        return f"{arn}#rotation-{rotations}"
