import { backboneSpec } from '../../core/test/backbone-spec.js';
import { codecLike } from './codec-like.js';

backboneSpec({ name: 'he2021-checkerboard', config: { N: 8, M: 12 }, create: () => codecLike() });
