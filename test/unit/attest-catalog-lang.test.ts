import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, rm, symlink, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { javascriptPackageCataloger, npmAuthor, npmLicenses } from '../../src/attest/sbom/catalogers/javascript.js';
import { normalizePythonName, pythonInstalledCataloger } from '../../src/attest/sbom/catalogers/python.js';
import { catalogFilesystem, directoryScanFs } from '../../src/attest/index.js';
import { purls, runCataloger } from '../helpers/catalog.js';
import { elf64, inlineBlob, wrapped } from '../helpers/go-elf-craft.js';
import { makeZip } from '../helpers/zip-craft.js';

async function put(root: string, path: string, content: string | Buffer): Promise<void> {
  await mkdir(dirname(join(root, path)), { recursive: true });
  await writeFile(join(root, path), content);
}

const pkgJson = (fields: Record<string, unknown>): string => JSON.stringify(fields, null, 2);

describe('javascript-package cataloger', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'catalog-npm-'));
    const r = dir;
    await put(r, 'app/package.json', pkgJson({ name: 'my-app', version: '1.0.0' }));
    await put(r, 'app/package-lock.json', pkgJson({ name: 'my-app', lockfileVersion: 3, packages: { 'node_modules/ghost': { version: '9.9.9' } } }));
    await put(r, 'app/node_modules/express/package.json', pkgJson({
      name: 'express', version: '4.18.2', license: 'MIT', homepage: 'http://expressjs.com/',
      author: 'TJ Holowaychuk <tj@vision-media.ca>', description: 'Fast, unopinionated, minimalist web framework',
    }));
    // Nested: a second version inside a dependent's own node_modules.
    await put(r, 'app/node_modules/express/node_modules/debug/package.json', pkgJson({ name: 'debug', version: '2.6.9', license: { type: 'MIT', url: 'x' } }));
    await put(r, 'app/node_modules/debug/package.json', pkgJson({ name: 'debug', version: '4.3.4', licenses: [{ type: 'MIT' }, 'Apache-2.0'] }));
    // Scoped.
    await put(r, 'app/node_modules/@babel/core/package.json', pkgJson({ name: '@babel/core', version: '7.23.0', author: { name: 'The Babel Team', url: 'https://babel.dev/team' } }));
    await put(r, 'app/node_modules/@types/node/package.json', pkgJson({ name: '@types/node', version: '20.8.0', license: 'MIT' }));
    // Not packages: a package.json inside a package (no name), a test fixture deep in a package, .bin.
    await put(r, 'app/node_modules/express/lib/package.json', pkgJson({ type: 'commonjs' }));
    await put(r, 'app/node_modules/express/test/fixtures/thing/package.json', pkgJson({ name: 'fixture', version: '0.0.0' }));
    await put(r, 'app/node_modules/no-version/package.json', pkgJson({ name: 'no-version' }));
    // A package.json with no node_modules beside it is a source tree, not an installed application.
    await put(r, 'srv/source-only/package.json', pkgJson({ name: 'source-only', version: '3.0.0' }));
    // Global installs.
    await put(r, 'usr/lib/node_modules/npm/package.json', pkgJson({ name: 'npm', version: '10.2.4', license: 'Artistic-2.0' }));
    await put(r, 'usr/local/lib/node_modules/corepack/package.json', pkgJson({ name: 'corepack', version: '0.22.0', license: 'MIT' }));
    // Hostile: invalid JSON, JSON that is not an object, a 100 MB package.json (sparse), a symlink loop.
    await put(r, 'app/node_modules/broken/package.json', '{ "name": "broken", "version": ');
    await put(r, 'app/node_modules/array/package.json', '[1, 2, 3]');
    await put(r, 'app/node_modules/huge/package.json', '');
    await truncate(join(r, 'app/node_modules/huge/package.json'), 100 * 1024 * 1024);
    await mkdir(join(r, 'app/node_modules/loop'), { recursive: true });
    await symlink('../loop', join(r, 'app/node_modules/loop/node_modules'));
    await symlink('/app/node_modules/express', join(r, 'app/node_modules/linked'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('finds installed packages (nested, scoped, global) and the application they are installed for, not lock files, not non-package package.json files', async () => {
    const { packages } = await runCataloger(javascriptPackageCataloger, dir);
    assert.deepEqual(purls(packages), [
      'pkg:npm/%40babel/core@7.23.0',
      'pkg:npm/%40types/node@20.8.0',
      'pkg:npm/corepack@0.22.0',
      'pkg:npm/debug@2.6.9',
      'pkg:npm/debug@4.3.4',
      'pkg:npm/express@4.18.2',
      'pkg:npm/my-app@1.0.0',
      'pkg:npm/npm@10.2.4',
    ]);
    const express = packages.find((p) => p.name === 'express');
    assert.deepEqual(express, {
      name: 'express', version: '4.18.2', type: 'npm', purl: 'pkg:npm/express@4.18.2', licenses: ['MIT'],
      foundBy: 'javascript-package', locations: [{ path: '/app/node_modules/express/package.json' }],
      homepage: 'http://expressjs.com/', supplier: 'TJ Holowaychuk <tj@vision-media.ca>',
      description: 'Fast, unopinionated, minimalist web framework',
    });
    assert.deepEqual(packages.find((p) => p.version === '2.6.9')?.locations, [{ path: '/app/node_modules/express/node_modules/debug/package.json' }]);
    assert.deepEqual(packages.find((p) => p.version === '2.6.9')?.licenses, ['MIT']);
    assert.deepEqual(packages.find((p) => p.version === '4.3.4')?.licenses, ['MIT', 'Apache-2.0']);
    assert.equal(packages.find((p) => p.name === '@babel/core')?.supplier, 'The Babel Team (https://babel.dev/team)');
  });

  it('reports invalid, non-object and oversized package.json files as warnings with their paths', async () => {
    const { warnings } = await runCataloger(javascriptPackageCataloger, dir);
    assert.equal(warnings.length, 3, warnings.join('\n'));
    assert.ok(warnings.some((w) => w.includes('/app/node_modules/broken/package.json') && w.includes('not valid JSON')));
    assert.ok(warnings.some((w) => w.includes('/app/node_modules/array/package.json') && w.includes('not a JSON object')));
    assert.ok(warnings.some((w) => w.includes('/app/node_modules/huge/package.json') && w.includes('104857600 bytes')));
  });

  it('reads licence and author in every form npm has used', () => {
    assert.deepEqual(npmLicenses('ISC', undefined), ['ISC']);
    assert.deepEqual(npmLicenses({ type: 'BSD-3-Clause' }, undefined), ['BSD-3-Clause']);
    assert.deepEqual(npmLicenses(undefined, [{ type: 'MIT' }, { type: 'GPL-2.0' }]), ['MIT', 'GPL-2.0']);
    assert.deepEqual(npmLicenses(42, [null, {}]), []);
    assert.equal(npmAuthor({ name: 'A', email: 'a@x' }), 'A <a@x>');
    assert.equal(npmAuthor(7), undefined);
  });
});

const METADATA = `Metadata-Version: 2.1
Name: Flask_SQLAlchemy
Version: 3.1.1
Summary: Add SQLAlchemy support to your Flask application.
Home-page: https://example.invalid/flask-sqlalchemy
Author-email: Pallets <contact@palletsprojects.com>
License: BSD-3-Clause
Classifier: License :: OSI Approved :: BSD License
Requires-Dist: flask>=2.2.5

Long description: Name: not-this
`;

describe('python-installed cataloger', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'catalog-py-'));
    const site = 'usr/local/lib/python3.11/site-packages';
    await put(dir, `${site}/flask_sqlalchemy-3.1.1.dist-info/METADATA`, METADATA);
    await put(dir, `${site}/flask_sqlalchemy-3.1.1.dist-info/RECORD`, 'flask_sqlalchemy/__init__.py,,\n');
    await put(dir, `${site}/requests-2.31.0.dist-info/METADATA`, 'Metadata-Version: 2.4\nName: requests\nVersion: 2.31.0\nLicense-Expression: Apache-2.0\nLicense: Apache 2.0\nProject-URL: Homepage, https://requests.readthedocs.io\n');
    await put(dir, `${site}/six-1.16.0.dist-info/METADATA`, 'Metadata-Version: 2.1\nName: six\nVersion: 1.16.0\nLicense: UNKNOWN\nClassifier: Programming Language :: Python\nClassifier: License :: OSI Approved :: MIT License\n');
    // Debian's python3-* packages: egg-info directories and single-file egg-info.
    await put(dir, 'usr/lib/python3/dist-packages/chardet-5.1.0.egg-info/PKG-INFO', 'Metadata-Version: 1.2\nName: chardet\nVersion: 5.1.0\nLicense: LGPL\n        continued line\nAuthor: Mark Pilgrim\n');
    await put(dir, 'usr/lib/python3/dist-packages/pyxdg-0.28.egg-info', 'Metadata-Version: 1.1\nName: pyxdg\nVersion: 0.28\nLicense: LGPL-2\n');
    // Not a distribution: no version.
    await put(dir, `${site}/broken-1.0.dist-info/METADATA`, 'Name: broken\n');
    await put(dir, `${site}/not-metadata/METADATA`, 'Name: nope\nVersion: 1\n');
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('finds dist-info and egg-info distributions with normalised purls, licences and the RECORD', async () => {
    const { packages, warnings } = await runCataloger(pythonInstalledCataloger, dir);
    assert.deepEqual(purls(packages), [
      'pkg:pypi/chardet@5.1.0',
      'pkg:pypi/flask-sqlalchemy@3.1.1',
      'pkg:pypi/pyxdg@0.28',
      'pkg:pypi/requests@2.31.0',
      'pkg:pypi/six@1.16.0',
    ]);
    const flask = packages.find((p) => p.version === '3.1.1');
    assert.deepEqual(flask, {
      name: 'Flask_SQLAlchemy', version: '3.1.1', type: 'pypi', purl: 'pkg:pypi/flask-sqlalchemy@3.1.1',
      licenses: ['BSD-3-Clause'], foundBy: 'python-installed',
      locations: [
        { path: '/usr/local/lib/python3.11/site-packages/flask_sqlalchemy-3.1.1.dist-info/METADATA' },
        { path: '/usr/local/lib/python3.11/site-packages/flask_sqlalchemy-3.1.1.dist-info/RECORD' },
      ],
      homepage: 'https://example.invalid/flask-sqlalchemy', supplier: 'Pallets <contact@palletsprojects.com>',
      description: 'Add SQLAlchemy support to your Flask application.',
    });
    const byName = new Map(packages.map((p) => [p.name, p]));
    assert.deepEqual(byName.get('requests')?.licenses, ['Apache-2.0']);
    assert.equal(byName.get('requests')?.homepage, 'https://requests.readthedocs.io');
    assert.deepEqual(byName.get('six')?.licenses, ['MIT License']);
    assert.deepEqual(byName.get('chardet')?.licenses, ['LGPL']);
    assert.equal(byName.get('chardet')?.supplier, 'Mark Pilgrim');
    assert.deepEqual(byName.get('pyxdg')?.locations, [{ path: '/usr/lib/python3/dist-packages/pyxdg-0.28.egg-info' }]);
    assert.deepEqual(warnings, ['python metadata /usr/local/lib/python3.11/site-packages/broken-1.0.dist-info/METADATA: no Name or Version header; skipped']);
  });

  it('normalises names as PEP 503', () => {
    assert.equal(normalizePythonName('Zope.Interface__x'), 'zope-interface-x');
  });
});

describe('language catalogers in CATALOGERS', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'catalog-all-'));
    await put(dir, 'etc/os-release', 'ID=debian\nVERSION_ID="12"\n');
    await put(dir, 'app/node_modules/left-pad/package.json', pkgJson({ name: 'left-pad', version: '1.3.0', license: 'WTFPL' }));
    await put(dir, 'usr/lib/python3/dist-packages/six-1.16.0.dist-info/METADATA', 'Name: six\nVersion: 1.16.0\n');
    await put(dir, 'opt/lib/app-1.0.jar', makeZip([{ name: 'META-INF/maven/org.example/app/pom.properties', data: 'groupId=org.example\nartifactId=app\nversion=1.0\n' }]));
    await put(dir, 'usr/local/bin/tool', elf64([{ name: '.go.buildinfo', data: inlineBlob('go1.22.3', wrapped('mod\texample.com/tool\tv0.4.0\t\n')) }]).file);
    await chmod(join(dir, 'usr/local/bin/tool'), 0o755);
    await put(dir, 'usr/local/bin/node', Buffer.from('\x7fELF ... node.js/v22.1.0 ...', 'latin1'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('runs every language cataloger through catalogFilesystem: one package per ecosystem, with its file', async () => {
    const warnings: string[] = [];
    const result = await catalogFilesystem(directoryScanFs(dir), { warn: (m) => warnings.push(m), signal: new AbortController().signal });
    assert.deepEqual(warnings, []);
    for (const name of ['javascript-package', 'python-installed', 'go-module-binary', 'java-archive', 'binary-classifier']) assert.ok(result.catalogers.includes(name), name);
    assert.deepEqual(result.packages.map((p) => `${p.foundBy} ${p.purl} ${p.locations.map((l) => l.path).join(',')}`).sort(), [
      'binary-classifier pkg:generic/node@22.1.0 /usr/local/bin/node',
      'go-module-binary pkg:golang/example.com/tool@v0.4.0 /usr/local/bin/tool',
      'go-module-binary pkg:golang/stdlib@1.22.3 /usr/local/bin/tool',
      'java-archive pkg:maven/org.example/app@1.0 /opt/lib/app-1.0.jar',
      'javascript-package pkg:npm/left-pad@1.3.0 /app/node_modules/left-pad/package.json',
      'python-installed pkg:pypi/six@1.16.0 /usr/lib/python3/dist-packages/six-1.16.0.dist-info/METADATA',
    ]);
  });
});
