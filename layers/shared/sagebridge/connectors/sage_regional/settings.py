"""Sage Business Cloud Accounting regional API (v2.0.0) settings: the environment variables that point
it at Sage's regional hosts and pace it, and its key of the integration's settings secret."""

from __future__ import annotations

from pydantic import Field, SecretStr

from sagebridge.connectors.product import ProductSecrets, ProductSettings, SecretKeys
from sagebridge.security.secrets import required_keys

# Sage's published hosts (specs/sage-accounting-regional README §1): Australia and South Africa.
# New Zealand and Asia hosts were not found in any source: a deployment serving them sets the
# variable; until then a tenant of those regions is refused at connect with that reason.
AU_URL = "https://accounting.sageone.com.au/api/2.0.0"
ZA_URL = "https://accounting.sageone.co.za/api/2.0.0"


class SageRegionalSettings(ProductSettings):
    au_url: str = Field(alias="SAGE_REGIONAL_AU_URL", default=AU_URL)
    za_url: str = Field(alias="SAGE_REGIONAL_ZA_URL", default=ZA_URL)
    nz_url: str = Field(alias="SAGE_REGIONAL_NZ_URL", default="")  # empty: no known host
    asia_url: str = Field(alias="SAGE_REGIONAL_ASIA_URL", default="")
    # Sage blocks a company for an hour past 100 requests a minute: one a second leaves 40% headroom.
    requests_per_second: float = Field(alias="SAGE_REGIONAL_REQUESTS_PER_SECOND", default=1.0, gt=0, le=1.6)
    # How long a 429 stops every request to the company: Sage's block is an hour (README §8, S5).
    # Only a test world whose 429s are not Sage's block (injected faults) sets less; a block of at
    # most a minute is waited out within the run, a longer one stops the run.
    block_seconds: float = Field(alias="SAGE_REGIONAL_BLOCK_SECONDS", default=3600.0, ge=0)

    def base_url(self, region: str) -> str | None:
        return {"AU": self.au_url, "ZA": self.za_url, "NZ": self.nz_url, "ASIA": self.asia_url}.get(region.upper())


class SageRegionalSecrets(ProductSecrets):
    """The integrator's (host-app vendor's) API key, sent on every request; tenants bring a login."""

    api_key: SecretStr = Field(alias="sage_regional_api_key")


# Tenants connect with a login typed in, not a connect link, so no keys decide a connect flow.
SECRET_KEYS = SecretKeys(required=required_keys(SageRegionalSecrets))

REGIONS = ("AU", "NZ", "ZA", "ASIA")

__all__ = ["AU_URL", "REGIONS", "SECRET_KEYS", "ZA_URL", "SageRegionalSecrets", "SageRegionalSettings"]
