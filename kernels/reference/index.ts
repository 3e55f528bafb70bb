/** Registers every float64 reference kernel (the spec). Each op family file adds one import. */
