// What callers see of the one engine class (dnc.ts): every kind is a Dnc at run time, so all share
// one hidden shape, but the members only a durable engine or a follower has (snapshot, lagMs, on,
// ...) appear only on the type of that kind, as they did when each kind was a class of its own.

import { Dnc as Engine } from './dnc.js';

type DurableMember = 'snapshot';
type FollowerMember = 'lagMs' | 'stale' | 'on' | 'off' | 'checkNow';

/** An engine: in memory (`new Dnc()`), durable or a follower (openDnc). */
export type Dnc = Omit<Engine, DurableMember | FollowerMember | 'dataDir'>;
export const Dnc: new () => Dnc = Engine;

/** The writer of a data directory (openDnc with a dataDir). */
export type DurableDnc = Omit<Engine, FollowerMember>;

/** A read-only follower of a live data directory (openDnc with a dataDir and readOnly: true). */
export type DncFollower = Omit<Engine, DurableMember>;
