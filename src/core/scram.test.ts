import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { scramCredential, scramFromDefinition, scramHmac, scramToDefinition, scramCredentials } from './scram.js';

test("SCRAM-SHA-256 credentials verify RFC 7677's example exchange (user 'user', password 'pencil')", () => {
  const credential = scramCredential('SCRAM-SHA-256', 'pencil', 4096, Buffer.from('W22ZaJ0SNY7soEsUEjb6gQ==', 'base64'));
  const clientFirstBare = 'n=user,r=rOprNGfwEbeRWgbNEkqO';
  const serverFirst = 'r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096';
  const withoutProof = 'c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0';
  const authMessage = `${clientFirstBare},${serverFirst},${withoutProof}`;
  const proof = Buffer.from('dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=', 'base64');
  const signature = scramHmac('SCRAM-SHA-256', credential.storedKey, authMessage);
  for (let i = 0; i < proof.length; i++) proof[i]! ^= signature[i]!;
  assert.deepEqual(createHash('sha256').update(proof).digest(), credential.storedKey);
  assert.equal(scramHmac('SCRAM-SHA-256', credential.serverKey, authMessage).toString('base64'), '6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=');
});

test('SCRAM credentials round-trip through their definitions form, and malformed ones are refused', () => {
  const made = scramCredentials('secret');
  const back = scramFromDefinition(JSON.parse(JSON.stringify(scramToDefinition(made))));
  assert.deepEqual(back['SCRAM-SHA-512']!.storedKey, made['SCRAM-SHA-512'].storedKey);
  assert.equal(back['SCRAM-SHA-256']!.iterations, 4096);
  assert.deepEqual(scramFromDefinition(undefined), {});
  assert.throws(() => scramFromDefinition({ 'SCRAM-SHA-256': { salt: 'AA==', iterations: 10, stored_key: '', server_key: '' } }), /iterations/);
  assert.throws(() => scramFromDefinition({ 'SCRAM-SHA-256': { salt: 'AA==', iterations: 4096, stored_key: 'AA==', server_key: 'AA==' } }), /length/);
  assert.throws(() => scramFromDefinition('x'), /object/);
});
