// The scaling benchmark's JSON (bench/scale/run.ts writes it, plot.ts reads it back through zod).
import { z } from 'zod';

export const ScaleRunSchema = z.object({
  wallS: z.number().nonnegative(),
  /** Peak RSS of the client command (stagecraft: the whole builder; docker: the CLI). */
  clientPeakRssMb: z.number().nonnegative(),
  /** dockerd's peak RSS during the build (BuildKit runs inside it); absent for stagecraft. */
  daemonPeakRssMb: z.number().nonnegative().optional(),
});
export type ScaleRun = z.infer<typeof ScaleRunSchema>;

export const ScaleMeasurementSchema = z.object({
  builder: z.string().min(1),
  runs: z.array(ScaleRunSchema),
  /** Median wall seconds over the runs. */
  wallS: z.number().nonnegative().optional(),
  /** Largest client + daemon peak RSS over the runs, MB. */
  peakRssMb: z.number().nonnegative().optional(),
  error: z.string().optional(),
});
export type ScaleMeasurement = z.infer<typeof ScaleMeasurementSchema>;

export const ScalePointSchema = z.object({
  dimension: z.string().min(1),
  unit: z.string(),
  size: z.number().positive(),
  measurements: z.array(ScaleMeasurementSchema),
});
export type ScalePoint = z.infer<typeof ScalePointSchema>;

export const ScaleResultSchema = z.object({
  date: z.string(),
  machine: z.string(),
  sizes: z.enum(['small', 'full']),
  runs: z.number().int().positive(),
  points: z.array(ScalePointSchema),
});
export type ScaleResult = z.infer<typeof ScaleResultSchema>;
