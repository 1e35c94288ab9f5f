/**
 * Who made a request, for the audit log: the mTLS client certificate's subject CN, else its first
 * DNS SAN, else "anonymous" (plain HTTP, or TLS without a client certificate).
 */
import type { TLSSocket } from 'node:tls';
import type { FastifyRequest } from 'fastify';
import { dnsNamesOf } from './san-rules.ts';

export function clientIdentity(req: FastifyRequest): string {
  const socket = req.raw.socket as Partial<TLSSocket>;
  if (typeof socket.getPeerCertificate !== 'function') return 'anonymous';
  const cert = socket.getPeerCertificate();
  if (!cert || Object.keys(cert).length === 0) return 'anonymous';
  const cn = cert.subject?.CN;
  const name = Array.isArray(cn) ? cn[0] : cn;
  if (typeof name === 'string' && name !== '') return name;
  return dnsNamesOf(cert.subjectaltname)[0] ?? 'anonymous';
}
