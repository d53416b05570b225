/**
 * RUN steps of a foreign platform run through the kernel's binfmt_misc and QEMU user emulation: the
 * kernel hands an ELF binary of another architecture to the registered interpreter. runc starts the
 * step's process inside the container's root, where no interpreter exists, so the handler must be
 * registered with the F (fix-binary) flag: the kernel opens the interpreter at registration and uses
 * that open file in every mount namespace (Documentation/admin-guide/binfmt-misc.rst). Debian's
 * qemu-user-static registers its handlers with flags PF.
 *
 * `checkEmulation` answers, before a build starts, whether each platform's programs can run here, and
 * fails with what to install or enable when they cannot.
 */
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { StagecraftError, formatPlatform, platformEquals, type Platform } from '../core/index.js';

export const BINFMT_MISC_DIR = '/proc/sys/fs/binfmt_misc';

/** ELF class, byte order and e_machine of the architectures QEMU user emulation runs. */
const ELF_MACHINES: Readonly<Record<string, { readonly bits: 32 | 64; readonly big: boolean; readonly machine: number; readonly qemu: string }>> = {
  amd64: { bits: 64, big: false, machine: 0x3e, qemu: 'x86_64' },
  '386': { bits: 32, big: false, machine: 0x03, qemu: 'i386' },
  arm64: { bits: 64, big: false, machine: 0xb7, qemu: 'aarch64' },
  arm: { bits: 32, big: false, machine: 0x28, qemu: 'arm' },
  riscv64: { bits: 64, big: false, machine: 0xf3, qemu: 'riscv64' },
  ppc64le: { bits: 64, big: false, machine: 0x15, qemu: 'ppc64le' },
  s390x: { bits: 64, big: true, machine: 0x16, qemu: 's390x' },
  mips64le: { bits: 64, big: false, machine: 0x08, qemu: 'mips64el' },
  loong64: { bits: 64, big: false, machine: 0x102, qemu: 'loongarch64' },
};

/** The first 20 bytes of an executable of `architecture` (ELF ident, e_type ET_EXEC, e_machine). */
function elfHeader(architecture: string): Buffer | undefined {
  const arch = ELF_MACHINES[architecture];
  if (arch === undefined) return undefined;
  const header = Buffer.alloc(20);
  header.set([0x7f, 0x45, 0x4c, 0x46, arch.bits === 64 ? 2 : 1, arch.big ? 2 : 1, 1], 0);
  if (arch.big) {
    header.writeUInt16BE(2, 16);
    header.writeUInt16BE(arch.machine, 18);
  } else {
    header.writeUInt16LE(2, 16);
    header.writeUInt16LE(arch.machine, 18);
  }
  return header;
}

/** One registered handler (the files of binfmt_misc besides `register` and `status`). */
interface BinfmtHandler {
  readonly name: string;
  readonly enabled: boolean;
  readonly flags: string;
  readonly offset: number;
  readonly magic: Buffer;
  readonly mask: Buffer | undefined;
  readonly interpreter: string;
}

/** A handler file as the kernel writes it (`enabled`, `interpreter …`, `flags: …`, `offset N`, `magic HEX`, `mask HEX`); extension handlers give undefined. */
function parseHandler(name: string, text: string): BinfmtHandler | undefined {
  const lines = text.split('\n');
  const field = (key: string): string | undefined => lines.find((l) => l.startsWith(`${key} `))?.slice(key.length + 1).trim();
  const magic = field('magic');
  if (magic === undefined || !/^([0-9a-f]{2})+$/.test(magic)) return undefined;
  const mask = field('mask');
  return {
    name,
    enabled: lines[0]?.trim() === 'enabled',
    flags: lines.find((l) => l.startsWith('flags:'))?.slice('flags:'.length).trim() ?? '',
    offset: Number(field('offset') ?? '0'),
    magic: Buffer.from(magic, 'hex'),
    mask: mask !== undefined && /^([0-9a-f]{2})+$/.test(mask) ? Buffer.from(mask, 'hex') : undefined,
    interpreter: field('interpreter') ?? '',
  };
}

function matches(handler: BinfmtHandler, header: Buffer): boolean {
  if (handler.offset + handler.magic.length > header.length) return false;
  for (let i = 0; i < handler.magic.length; i++) {
    const mask = handler.mask?.[i] ?? 0xff;
    if (((header[handler.offset + i] ?? 0) & mask) !== ((handler.magic[i] ?? 0) & mask)) return false;
  }
  return true;
}

/** Platforms this machine runs without emulation: its own architecture, and 386 on amd64. */
function runsNatively(host: Platform, platform: Platform): boolean {
  if (platform.os !== host.os) return false;
  if (platform.architecture === host.architecture) return true;
  return host.architecture === 'amd64' && platform.architecture === '386';
}

export interface EmulationCheckOptions {
  /** This machine's platform. */
  readonly host: Platform;
  /** Where binfmt_misc is mounted (tests pass a directory of handler files). */
  readonly binfmtDir?: string | undefined;
}

const INSTALL = 'apt-get install qemu-user-static binfmt-support';

/**
 * Throws EXTERNAL_TOOL unless every platform in `platforms` runs here: natively, or through an
 * enabled binfmt_misc handler with the F flag. The message names the platform; the hint, what to
 * install, enable or mount.
 */
export async function checkEmulation(platforms: readonly Platform[], options: EmulationCheckOptions): Promise<void> {
  const foreign: Platform[] = [];
  for (const p of platforms) if (!runsNatively(options.host, p) && !foreign.some((f) => platformEquals(f, p))) foreign.push(p);
  if (foreign.length === 0) return;
  const dir = options.binfmtDir ?? BINFMT_MISC_DIR;
  const first = foreign[0];
  if (first === undefined) return;
  if (first.os !== 'linux') {
    throw new StagecraftError('EXTERNAL_TOOL', `RUN steps for ${formatPlatform(first)} cannot run here: stagecraft runs ${options.host.os} containers only`, { hint: `build for ${options.host.os}/…` });
  }
  let status: string;
  try {
    status = (await readFile(join(dir, 'status'), 'utf8')).trim();
  } catch {
    const qemu = ELF_MACHINES[first.architecture]?.qemu ?? first.architecture;
    throw new StagecraftError('EXTERNAL_TOOL', `RUN steps for ${formatPlatform(first)} need QEMU emulation, but binfmt_misc is not mounted at ${dir}`, {
      hint: `as root: ${INSTALL}; mount -t binfmt_misc binfmt_misc ${BINFMT_MISC_DIR}; update-binfmts --enable qemu-${qemu} (scripts/install-system-deps.sh does this)`,
    });
  }
  if (status !== 'enabled') {
    throw new StagecraftError('EXTERNAL_TOOL', `RUN steps for ${formatPlatform(first)} need QEMU emulation, but binfmt_misc is disabled (${join(dir, 'status')} says ${JSON.stringify(status)})`, {
      hint: `as root: echo 1 > ${join(BINFMT_MISC_DIR, 'status')}`,
    });
  }
  const handlers: BinfmtHandler[] = [];
  for (const name of (await readdir(dir)).sort()) {
    if (name === 'register' || name === 'status') continue;
    const text = await readFile(join(dir, name), 'utf8').catch(() => undefined);
    const handler = text === undefined ? undefined : parseHandler(name, text);
    if (handler !== undefined) handlers.push(handler);
  }
  for (const platform of foreign) {
    const header = elfHeader(platform.architecture);
    const qemu = ELF_MACHINES[platform.architecture]?.qemu ?? platform.architecture;
    const found = header === undefined ? [] : handlers.filter((h) => matches(h, header));
    const usable = found.find((h) => h.enabled && h.flags.includes('F'));
    if (usable !== undefined) continue;
    const name = formatPlatform(platform);
    if (header === undefined) {
      throw new StagecraftError('EXTERNAL_TOOL', `RUN steps for ${name} cannot run here: stagecraft knows no QEMU emulator for the architecture ${platform.architecture}`, {
        hint: `known architectures: ${Object.keys(ELF_MACHINES).join(', ')}`,
      });
    }
    const disabled = found.find((h) => !h.enabled);
    if (disabled !== undefined && !found.some((h) => h.enabled)) {
      throw new StagecraftError('EXTERNAL_TOOL', `RUN steps for ${name} need QEMU emulation: the binfmt_misc handler ${disabled.name} is registered but disabled`, {
        hint: `as root: update-binfmts --enable ${disabled.name} (or echo 1 > ${join(BINFMT_MISC_DIR, disabled.name)})`,
      });
    }
    const withoutF = found.find((h) => h.enabled);
    if (withoutF !== undefined) {
      throw new StagecraftError('EXTERNAL_TOOL', `RUN steps for ${name} need QEMU emulation: the binfmt_misc handler ${withoutF.name} (${withoutF.interpreter}) lacks the F (fix-binary) flag, so the interpreter cannot be found inside a container`, {
        hint: `as root: ${INSTALL} (Debian registers its handlers with flags PF); or register ${withoutF.name} again with the F flag`,
      });
    }
    throw new StagecraftError('EXTERNAL_TOOL', `RUN steps for ${name} need QEMU emulation, and no binfmt_misc handler runs ${platform.architecture} programs here`, {
      hint: `as root: ${INSTALL}; update-binfmts --enable qemu-${qemu} (scripts/install-system-deps.sh does this)`,
    });
  }
}
