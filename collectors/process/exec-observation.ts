// The exec observation as the process collector builds it: plain data, except for the facts that
// cost a /proc read (the parent chain; container.init and container.drift when the exec source
// did not read them at exec time), which are worked out on first read and kept. They are getters
// of these classes rather than properties defined on each object: V8 turns an object given its
// own accessor (a new function each time) into a slow dictionary, and the rules' field reads on
// it into hash lookups on every exec.

import type { AncestorObservation, ContainerObservation, ExecObservation, KubernetesObservation, ProcessObservation } from '../../core/observation.js';

/** The container part; `init` and `drift` are given, or read once through the function given. */
export class ExecContainer implements ContainerObservation {
  #init: boolean | undefined;
  #drift: boolean | undefined;
  #readInit: (() => boolean) | undefined;
  #readDrift: (() => boolean) | undefined;

  constructor(
    public id: string,
    public name: string,
    public image: string,
    public imageDigest: string,
    public origin: string,
    public privileged: boolean,
    init: boolean | (() => boolean),
    drift: boolean | (() => boolean),
  ) {
    if (typeof init === 'boolean') this.#init = init;
    else this.#readInit = init;
    if (typeof drift === 'boolean') this.#drift = drift;
    else this.#readDrift = drift;
  }

  get init(): boolean {
    if (this.#init === undefined) {
      this.#init = this.#readInit!();
      this.#readInit = undefined;
    }
    return this.#init;
  }

  set init(v: boolean) {
    this.#init = v;
  }

  get drift(): boolean {
    if (this.#drift === undefined) {
      this.#drift = this.#readDrift!();
      this.#readDrift = undefined;
    }
    return this.#drift;
  }

  set drift(v: boolean) {
    this.#drift = v;
  }
}

/** An exec; `ancestors` is read through `chain(from)` on first use. */
export class LazyExecObservation<E> implements ExecObservation {
  readonly kind = 'exec' as const;
  #ancestors: AncestorObservation[] | undefined;
  #from: E | undefined;
  #chain: ((from: E) => AncestorObservation[]) | undefined;

  constructor(
    public timeUnixNano: bigint,
    public process: ProcessObservation,
    public parent: AncestorObservation,
    public inContainer: boolean,
    public container: ContainerObservation,
    public kubernetes: KubernetesObservation,
    public node: string,
    from: E,
    chain: (from: E) => AncestorObservation[],
  ) {
    this.#from = from;
    this.#chain = chain;
  }

  get ancestors(): AncestorObservation[] {
    if (this.#ancestors === undefined) {
      this.#ancestors = this.#chain!(this.#from!);
      this.#from = undefined;
      this.#chain = undefined;
    }
    return this.#ancestors;
  }

  set ancestors(v: AncestorObservation[]) {
    this.#ancestors = v;
    this.#from = undefined;
    this.#chain = undefined;
  }
}
