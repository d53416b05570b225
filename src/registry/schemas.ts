/** Schemas of registry responses (distribution spec, Docker token auth spec). */
import { z } from 'zod';

/** The token endpoint's answer (https://distribution.github.io/distribution/spec/auth/token/). */
export const tokenResponseSchema = z
  .object({
    token: z.string().optional(),
    access_token: z.string().optional(),
    expires_in: z.number().int().optional(),
    issued_at: z.string().optional(),
  })
  .refine((t) => (t.token ?? t.access_token ?? '') !== '', { message: 'token response has neither token nor access_token' });
export type TokenResponse = z.infer<typeof tokenResponseSchema>;

/** Error bodies: `{"errors":[{"code":"MANIFEST_UNKNOWN","message":"…","detail":…}]}`. */
export const errorBodySchema = z.object({
  errors: z.array(
    z.object({
      code: z.string(),
      message: z.string().optional(),
      detail: z.unknown().optional(),
    }),
  ),
});
export type ErrorBody = z.infer<typeof errorBodySchema>;

export const tagListSchema = z.object({
  name: z.string(),
  tags: z.array(z.string()).nullable(),
});

/** `~/.docker/config.json`, the parts that hold credentials. */
export const dockerConfigSchema = z.looseObject({
  auths: z
    .record(
      z.string(),
      z.looseObject({
        auth: z.string().optional(),
        username: z.string().optional(),
        password: z.string().optional(),
        identitytoken: z.string().optional(),
      }),
    )
    .optional(),
  credsStore: z.string().optional(),
  credHelpers: z.record(z.string(), z.string()).optional(),
});
export type DockerConfigFile = z.infer<typeof dockerConfigSchema>;

/** `docker-credential-<name> get` output. */
export const helperOutputSchema = z.looseObject({
  ServerURL: z.string().optional(),
  Username: z.string(),
  Secret: z.string(),
});
