import { backboneSpec } from '../../core/test/backbone-spec.js';
import { codecLike } from './codec-like.js';

backboneSpec({ name: 'minnen2020-channel', config: { N: 8, M: 12, slices: 3, maxSupport: 2 }, create: () => codecLike() });
