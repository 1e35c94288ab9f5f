/** mTLS on the REST API: TLS material (load, expiry, reload), SAN rules and client roles. */
export { TlsMaterial, TlsConfigError, minTlsVersion, type CertificateExpiry, type CertificateValidity, type SecureContextTarget, type TlsMaterialOptions } from './tls-material.ts';
export { compileSanRules, dnsNamesOf, anyMatch, SanRuleError, type SanRule } from './san-rules.ts';
export { authorizeHook, peerDnsNames, roleOf, roleRules, type Role, type RoleRules } from './roles.ts';
export { clientIdentity } from './identity.ts';
