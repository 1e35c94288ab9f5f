/**
 * Roles of REST clients authenticated by a client certificate (the chain was already verified
 * against the configured CA by the TLS handshake):
 *
 * - writer rules (`[mtls] san-match-rules`) set: a certificate matching them is a writer; one
 *   matching the reader rules (`[l3af] mtls-reader-san-match-rules`) is a reader; any other gets
 *   403 on every request;
 * - writer rules empty: any certificate signed by the CA is a writer (l3afd refused every
 *   client in this case), except those matching the reader rules, which are readers.
 *
 * Readers may GET/HEAD/OPTIONS; every other method (add, update, delete, restart) needs a writer.
 */
import type { TLSSocket } from 'node:tls';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AgentConfig } from '../config/index.ts';
import { anyMatch, compileSanRules, dnsNamesOf, type SanRule } from './san-rules.ts';

/** What a client may do. */
export type Role = 'writer' | 'reader' | 'none';

/** The compiled role rules. */
export interface RoleRules {
  readonly writers: readonly SanRule[];
  readonly readers: readonly SanRule[];
}

/** Compiles the role rules of a configuration (throws SanRuleError naming the key). */
export function roleRules(config: AgentConfig): RoleRules {
  return {
    writers: compileSanRules('mtls.san-match-rules', config.mtls.sanMatchRules),
    readers: compileSanRules('l3af.mtls-reader-san-match-rules', config.l3af.mtlsReaderSanMatchRules),
  };
}

/** The role of a client whose certificate carries these DNS SANs. */
export function roleOf(rules: RoleRules, dnsNames: readonly string[]): Role {
  if (rules.writers.length > 0) {
    if (anyMatch(rules.writers, dnsNames)) return 'writer';
    return anyMatch(rules.readers, dnsNames) ? 'reader' : 'none';
  }
  return anyMatch(rules.readers, dnsNames) ? 'reader' : 'writer';
}

const READ_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** The client certificate's DNS SANs on a TLS request ([] when none). */
export function peerDnsNames(req: FastifyRequest): string[] | undefined {
  const socket = req.raw.socket as Partial<TLSSocket>;
  if (typeof socket.getPeerCertificate !== 'function') return undefined;
  const cert = socket.getPeerCertificate();
  return dnsNamesOf(cert.subjectaltname);
}

/**
 * A fastify `onRequest` hook enforcing the roles: 403 with an l3afd-style error body naming the
 * client's SANs and what it would need. Requests on a plain (non-TLS) socket are not checked.
 */
export function authorizeHook(rules: RoleRules): (req: FastifyRequest, reply: FastifyReply) => Promise<void> {
  const cache = new WeakMap<object, { role: Role; names: string[] }>();
  return async (req, reply) => {
    let seen = cache.get(req.raw.socket);
    if (seen === undefined) {
      const names = peerDnsNames(req);
      if (names === undefined) return;
      seen = { role: roleOf(rules, names), names };
      cache.set(req.raw.socket, seen);
    }
    const write = !READ_METHODS.has(req.method);
    if (seen.role === 'writer' || (seen.role === 'reader' && !write)) return;
    const who = seen.names.length > 0 ? `DNS SANs ${seen.names.join(', ')}` : 'no DNS SAN';
    const path = req.url.split('?')[0] ?? '';
    const message = seen.role === 'reader'
      ? `client certificate (${who}) is read-only ([l3af] mtls-reader-san-match-rules): ${req.method} ${path} needs a certificate matching [mtls] san-match-rules`
      : `client certificate (${who}) matches neither [mtls] san-match-rules nor [l3af] mtls-reader-san-match-rules`;
    req.log.warn({ role: seen.role, sans: seen.names, method: req.method, url: path }, 'request refused by role');
    await reply.code(403).type('application/json; charset=utf-8').send({ error: 'forbidden', problems: [{ path: '', message }] });
  };
}
