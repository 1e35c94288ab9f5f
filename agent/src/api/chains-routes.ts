/**
 * `GET /l3af/chains/{iface}`: each chain on an interface as the kernel sees it — the root and
 * the programs in chain order, each with its kernel program id, the id its predecessor's slot
 * (or, for the root, the hook) actually holds, whether that makes it linked, and the id its own
 * next slot holds. Like l3afd's debug API (`/bpfs/<iface>`), but it shows ids and links only:
 * no payload fields, paths or agent configuration.
 */
import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type, type Static } from 'typebox';
import type { ChainDescription, ElementState } from '../chain/index.ts';
import type { Engine } from '../engine/types.ts';
import type { ChainInspector } from '../engine/engine.ts';
import { RequestError } from './errors.ts';
import { ErrorBody } from './responses.ts';
import { patterns } from '../payload/index.ts';

/** One element of a chain (root or program) as the kernel sees it. */
export const ChainElementSchema = Type.Object(
  {
    name: Type.String(),
    version: Type.String({ description: 'Version as loaded; for a program adopted after a restart, its pin segment (dots as underscores).' }),
    kernel_prog_id: Type.Integer({ description: 'Kernel id of the program.' }),
    slot_prog_id: Type.Union([Type.Integer(), Type.Null()], {
      description: 'What points at it, read back from the kernel: for the root, the program attached to the hook; for a program, the id in its predecessor\'s next slot (null: empty).',
    }),
    linked: Type.Boolean({ description: 'slot_prog_id equals kernel_prog_id: traffic reaches this element.' }),
    next_prog_id: Type.Union([Type.Integer(), Type.Null()], { description: 'The id in its own next slot (null: end of the chain).' }),
  },
  { additionalProperties: false },
);
export type ChainElement = Static<typeof ChainElementSchema>;

/** One chain (interface, direction). */
export const ChainSchema = Type.Object(
  {
    direction: Type.Enum(['xdp_ingress', 'tc_ingress', 'tc_egress']),
    attach_mode: Type.Enum(['drv', 'skb', 'tc', 'tcx'], { description: 'XDP: drv (native) or skb (generic); TC: tc (clsact filter) or tcx (TCX link, kernel >= 6.6).' }),
    root: ChainElementSchema,
    programs: Type.Array(ChainElementSchema, { description: 'The programs after the root, in chain order.' }),
  },
  { additionalProperties: false },
);

/** Answer of `GET /l3af/chains/{iface}`. */
export const InterfaceChainsSchema = Type.Object(
  {
    iface: Type.String(),
    chains: Type.Array(ChainSchema, { description: 'Chains on the interface ([] when it has none, or is unknown).' }),
  },
  { additionalProperties: false, description: 'The chains of one interface as the kernel sees them: ids and links, no configuration.' },
);
export type InterfaceChains = Static<typeof InterfaceChainsSchema>;

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
