/** The local store commands: pull, push, images, inspect, tag, rmi, save, load, image history (and the global --root). */
import type { Command } from 'commander';
import type { CliIo } from '../main.js';
import { registerHistory } from './history.js';
import { registerImages } from './images.js';
import { registerInspect } from './inspect.js';
import { registerLoad } from './load.js';
import { registerPull } from './pull.js';
import { registerPush } from './push.js';
import { registerRmi } from './rmi.js';
import { registerSave } from './save.js';
import { addRootOption } from './store-context.js';
import { registerTag } from './tag.js';

export function registerImageCommands(program: Command, io: CliIo): void {
  addRootOption(program);
  registerPull(program, io);
  registerPush(program, io);
  registerImages(program, io);
  registerInspect(program, io);
  registerTag(program, io);
  registerRmi(program, io);
  registerSave(program, io);
  registerLoad(program, io);
  registerHistory(program, io);
}
