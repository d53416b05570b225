/**
 * The parts of SARIF 2.1.0 (OASIS, sarif-schema-2.1.0.json, JSON Schema draft-07) that stagecraft emits,
 * written as zod: every object is strict (the schema's additionalProperties: false), required properties
 * and enums as the schema declares them, anyOf requirements as refinements. Properties we never emit are
 * left out, so emitting one would fail here and call for adding it from the schema first.
 */
import { z } from 'zod';

/** RFC 3986 URI-reference characters, with %-escapes well formed (format "uri-reference"). */
const uriReference = z.string().regex(/^(?:[A-Za-z0-9\-._~:/?#[\]@!$&'()*+,;=]|%[0-9A-Fa-f]{2})*$/, 'not a URI reference');
/** format "uri": absolute. */
const uri = z.string().url();

/** propertyBag: open (additionalProperties: true), `tags` unique strings. */
const propertyBag = z.object({
  tags: z.array(z.string()).refine((tags) => new Set(tags).size === tags.length, 'tags must be unique').optional(),
}).passthrough();

const level = z.enum(['none', 'note', 'warning', 'error']);

const multiformatMessageString = z.object({
  text: z.string(),
  markdown: z.string().optional(),
  properties: propertyBag.optional(),
}).strict();

/** message: anyOf required text | id. */
const message = z.object({
  text: z.string().optional(),
  markdown: z.string().optional(),
  id: z.string().optional(),
  arguments: z.array(z.string()).optional(),
  properties: propertyBag.optional(),
}).strict().refine((m) => m.text !== undefined || m.id !== undefined, 'message needs text or id');

const reportingConfiguration = z.object({
  enabled: z.boolean().optional(),
  level: level.optional(),
  rank: z.number().min(-1).max(100).optional(),
  parameters: propertyBag.optional(),
  properties: propertyBag.optional(),
}).strict();

const reportingDescriptor = z.object({
  id: z.string(),
  name: z.string().optional(),
  shortDescription: multiformatMessageString.optional(),
  fullDescription: multiformatMessageString.optional(),
  helpUri: uri.optional(),
  help: multiformatMessageString.optional(),
  defaultConfiguration: reportingConfiguration.optional(),
  properties: propertyBag.optional(),
}).strict();

const toolComponent = z.object({
  name: z.string(),
  version: z.string().optional(),
  semanticVersion: z.string().optional(),
  informationUri: uri.optional(),
  rules: z.array(reportingDescriptor).refine((rules) => new Set(rules.map((r) => r.id)).size === rules.length, 'rules must be unique').optional(),
  properties: propertyBag.optional(),
}).strict();

const artifactLocation = z.object({
  uri: uriReference.optional(),
  uriBaseId: z.string().optional(),
  index: z.number().int().min(-1).optional(),
  properties: propertyBag.optional(),
}).strict();

/** region: anyOf required startLine | charOffset | byteOffset (we use lines). */
const region = z.object({
  startLine: z.number().int().min(1).optional(),
  startColumn: z.number().int().min(1).optional(),
  endLine: z.number().int().min(1).optional(),
  endColumn: z.number().int().min(1).optional(),
  charOffset: z.number().int().min(-1).optional(),
  byteOffset: z.number().int().min(-1).optional(),
  properties: propertyBag.optional(),
}).strict().refine((r) => r.startLine !== undefined || r.charOffset !== undefined || r.byteOffset !== undefined, 'region needs startLine, charOffset or byteOffset');

/** physicalLocation: anyOf required address | artifactLocation (we never emit address). */
const physicalLocation = z.object({
  artifactLocation,
  region: region.optional(),
  contextRegion: region.optional(),
  properties: propertyBag.optional(),
}).strict();

const location = z.object({
  id: z.number().int().min(-1).optional(),
  physicalLocation: physicalLocation.optional(),
  message: message.optional(),
  properties: propertyBag.optional(),
}).strict();

const result = z.object({
  ruleId: z.string().optional(),
  ruleIndex: z.number().int().min(-1).optional(),
  kind: z.enum(['notApplicable', 'pass', 'fail', 'review', 'open', 'informational']).optional(),
  level: level.optional(),
  message,
  locations: z.array(location).optional(),
  properties: propertyBag.optional(),
}).strict();

const run = z.object({
  tool: z.object({ driver: toolComponent, properties: propertyBag.optional() }).strict(),
  results: z.array(result).optional(),
  properties: propertyBag.optional(),
}).strict();

export const SarifLog = z.object({
  $schema: uri.optional(),
  version: z.literal('2.1.0'),
  runs: z.array(run),
  properties: propertyBag.optional(),
}).strict();

export type SarifLog = z.infer<typeof SarifLog>;
