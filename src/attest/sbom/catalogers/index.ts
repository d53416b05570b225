/** The catalogers `catalogFilesystem` runs, in order. */
import type { Cataloger } from '../types.js';
import { binaryCataloger } from './binary.js';
import { goModuleBinaryCataloger } from './go-binary.js';
import { javaArchiveCataloger } from './java.js';
import { javascriptPackageCataloger } from './javascript.js';
import { pythonInstalledCataloger } from './python.js';

export const CATALOGERS: readonly Cataloger[] = [
  javascriptPackageCataloger,
  pythonInstalledCataloger,
  goModuleBinaryCataloger,
  javaArchiveCataloger,
  binaryCataloger,
];
