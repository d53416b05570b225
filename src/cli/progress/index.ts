export { initialPlainState, renderPlain, type PlainState } from './plain.js';
export { initialTtyState, reduceTty, ttyFrame, TtyPainter, type TtyState, type TtyStep } from './tty.js';
