/**
 * `GET /l3af/chains/{iface}`: each chain on an interface as the kernel sees it — the root and
 * the programs in chain order, each with its kernel program id, the id its predecessor's slot
 * (or, for the root, the hook) actually holds, whether that makes it linked, and the id its own
 * next slot holds. Like l3afd's debug API (`/bpfs/<iface>`), but it shows ids and links only:
 * no payload fields, paths or agent configuration.
 */
import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { ChainDescription, ElementState } from '../chain/index.ts';
import type { Engine } from '../engine/types.ts';
import type { ChainInspector } from '../engine/engine.ts';
import { RequestError } from './errors.ts';
import { ErrorBody, InterfaceChainsSchema, type ChainElement, type InterfaceChains } from '../payload/responses.ts';
import { patterns } from '../payload/index.ts';


const IfaceParams = Type.Object({ iface: Type.String({ pattern: patterns.IFACE, description: 'Interface name.' }) });

function element(e: ElementState): ChainElement {
  return {
    name: e.name, version: e.version, kernel_prog_id: e.id, slot_prog_id: e.slotId ?? null, linked: e.linked, next_prog_id: e.nextId ?? null,
  };
}

/** The API shape of the chains of one interface. */
export function interfaceChains(iface: string, chains: readonly ChainDescription[]): InterfaceChains {
  return {
    iface,
    chains: chains.map((c) => ({ direction: c.direction, attach_mode: c.attachMode, root: element(c.root), programs: c.programs.map(element) })),
  };
}

function inspectorOf(engine: Engine): ChainInspector | undefined {
  const e = engine as Engine & Partial<ChainInspector>;
  return typeof e.describeChains === 'function' ? (e as Engine & ChainInspector) : undefined;
}

/** Options of {@link chainsRoutes}. */
export interface ChainsRoutesOptions {
  engine: Engine;
}

/** Registers `GET /{iface}` (use with `prefix: '/l3af/chains'`). */
export const chainsRoutes: FastifyPluginAsync<ChainsRoutesOptions> = async (fastify, opts) => {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  app.get('/:iface', {
    schema: {
      tags: ['l3af chains'], operationId: 'getChains', params: IfaceParams,
      response: {
        200: InterfaceChainsSchema,
        400: { ...ErrorBody, description: 'Not an interface name.' },
        500: { ...ErrorBody, description: 'A fault of the agent.' },
        501: { ...ErrorBody, description: 'This engine cannot read its chains back.' },
        503: { ...ErrorBody, description: 'The agent is starting or stopping; retry.' },
      },
      summary: 'Each chain on the interface as the kernel sees it: root and programs with kernel ids, slot contents and links (no configuration).',
    },
  }, async (req) => {
    const inspector = inspectorOf(opts.engine); // per request: the agent may swap the engine behind a delegate
    if (!inspector) throw new RequestError(501, 'not implemented', [{ path: '', message: 'this engine does not describe its chains' }]);
    return interfaceChains(req.params.iface, inspector.describeChains(req.params.iface));
  });
};
